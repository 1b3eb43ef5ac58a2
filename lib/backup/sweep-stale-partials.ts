import { constants } from 'node:fs';
import { open, readdir, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { tryLock } from 'fs-native-extensions';
import type { Logger } from '../logger';
import { isPartialOf } from './partial-file';
import { TARGET_NAME } from './retention';

export interface SweepOptions {
  /** BACKUP_DIR; each target has a sub-directory. */
  backupDir: string;
  /** The configured target names: only their directories are swept. */
  targets: readonly string[];
  logger: Logger;
}

export interface SweepResult {
  /** Paths of the stale temporary files deleted. */
  removed: string[];
  /** Paths left alone because a live dump holds their lock. */
  live: string[];
  /** What could not be looked at or deleted, with why. */
  failed: { file: string; error: string }[];
}

const isErrno = (err: unknown, code: string) => (err as NodeJS.ErrnoException).code === code;

/**
 * Deletes the temporary files that dumps left behind when their worker died without cleaning
 * up (SIGKILL, OOM, power loss). Several workers may share BACKUP_DIR, so a file is deleted
 * only if its lock can be taken: its writer, if alive, holds it (partial-file.ts). A file that
 * vanishes meanwhile was finished or swept by someone else, which is fine.
 */
export async function sweepStalePartials(o: SweepOptions): Promise<SweepResult> {
  const result: SweepResult = { removed: [], live: [], failed: [] };
  for (const target of o.targets) {
    // Never a path outside backupDir, whatever the caller passes.
    if (!TARGET_NAME.test(target)) continue;
    const dir = path.join(o.backupDir, target);
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => e.isFile() && isPartialOf(target, e.name))
        .map((e) => e.name);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) result.failed.push({ file: dir, error: (err as Error).message });
      continue;
    }
    for (const name of names) await sweepOne(path.join(dir, name), result);
  }
  if (result.removed.length || result.live.length)
    o.logger.info(
      { removed: result.removed.length, live: result.live.length },
      'pg.backup swept stale temporary files',
    );
  if (result.failed.length)
    o.logger.warn({ failed: result.failed }, 'pg.backup could not sweep some temporary files');
  return result;
}

async function sweepOne(file: string, result: SweepResult): Promise<void> {
  let handle: FileHandle;
  try {
    // Writable, as an exclusive lock needs; no symlink is followed out of the directory.
    handle = await open(file, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) result.failed.push({ file, error: (err as Error).message });
    return;
  }
  try {
    if (!tryLock(handle.fd)) {
      result.live.push(file);
      return;
    }
    // Deleted while locked: a writer that created the file but has not locked it yet sees
    // its path gone once it holds the lock, and starts over (createLockedPartial).
    await unlink(file);
    result.removed.push(file);
  } catch (err) {
    // ENOENT: renamed to its final name by a dump that finished since the listing.
    if (!isErrno(err, 'ENOENT')) result.failed.push({ file, error: (err as Error).message });
  } finally {
    await handle.close();
  }
}
