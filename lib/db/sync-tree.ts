import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * fsyncs every file and directory under `root`, directories after their entries. For a data
 * directory PGlite has just created: it writes initdb's files without syncing them, and
 * Postgres syncs only what it writes itself, so without this a power cut in the first
 * minutes could lose the catalog under a database whose commits were all synced.
 */
export async function syncTree(root: string, fsync: (fd: number) => void = fsyncSync): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const p = path.join(root, entry.name);
    if (entry.isDirectory()) await syncTree(p, fsync);
    else if (entry.isFile()) syncPath(p, fsync);
  }
  syncPath(root, fsync);
}

function syncPath(p: string, fsync: (fd: number) => void): void {
  const fd = openSync(p, constants.O_RDONLY);
  try {
    fsync(fd);
  } finally {
    closeSync(fd);
  }
}
