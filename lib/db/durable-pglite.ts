import { PGlite } from '@electric-sql/pglite';
import { existsSync, fsyncSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DURABLE_START_PARAMS, DurableNodeFS } from './durable-node-fs';
import { syncTree } from './sync-tree';

/**
 * PGlite on disk in `dataDir` with fsync on: a commit is on the disk before it returns. The
 * caller makes sure no other process has `dataDir` open (see lockDataDir).
 */
export async function createDurablePglite(
  dataDir: string,
  fsync: (fd: number) => void = fsyncSync,
): Promise<PGlite> {
  await mkdir(dataDir, { recursive: true });
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  const client = await PGlite.create({
    fs: new DurableNodeFS(dataDir, fsync),
    startParams: [...DURABLE_START_PARAMS],
  });
  if (fresh) {
    try {
      await syncTree(dataDir, fsync);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }
  return client;
}
