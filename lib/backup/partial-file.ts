import { randomBytes } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { tryLock } from 'fs-native-extensions';
import { backupTimestamp } from './retention';

/*
 * The temporary file a dump is written to, `.<final name>.<8 hex>.partial`: hidden, so
 * retention never sees it. Its writer holds an exclusive OFD lock on it for as long as the
 * dump runs; the lock goes with the descriptor, so it also goes when the worker dies however
 * it dies. That is how a sweep (sweep-stale-partials.ts) tells a stale file from one that
 * another worker sharing BACKUP_DIR is writing right now: age cannot, a dump may run for hours.
 * pg_dump writes the file by its path; the advisory lock does not hinder it.
 */

const PARTIAL_NAME = /^\.(.+)\.[0-9a-f]{8}\.partial$/;
/** Sweeps racing a creation are won by the creator on a later try; three is plenty. */
const CREATE_TRIES = 3;

/** Whether `fileName` is the temporary file of a dump of `target`. */
export function isPartialOf(target: string, fileName: string): boolean {
  const finalName = PARTIAL_NAME.exec(fileName)?.[1];
  return finalName !== undefined && backupTimestamp(target, finalName) !== null;
}

export interface LockedPartial {
  path: string;
  /** Holds the lock: close it only after the file was renamed or removed. */
  handle: FileHandle;
}

async function stillNamedBy(handle: FileHandle, file: string): Promise<boolean> {
  const [mine, named] = await Promise.all([handle.stat(), stat(file).catch(() => null)]);
  return named !== null && named.ino === mine.ino && named.dev === mine.dev;
}

/**
 * Creates the temporary file for a dump that will be renamed to `finalName` in `dir`, locked.
 * Between the creation and the lock a sweep may take the new, unlocked file for a stale one;
 * checking that the path still names our file once the lock is held rules that out, because
 * a sweep deletes only while it holds the lock.
 */
export async function createLockedPartial(dir: string, finalName: string): Promise<LockedPartial> {
  for (let i = 0; i < CREATE_TRIES; i++) {
    // Random part: two attempts of the same target may overlap (a retry while a lost-lease
    // attempt still runs) and must not write into one file.
    const file = path.join(dir, `.${finalName}.${randomBytes(4).toString('hex')}.partial`);
    // Created by us with 0600 first: pg_dump truncates it and keeps the mode, so a dump of
    // the whole database is never readable by other local users, even while written.
    const handle = await open(file, 'wx', 0o600);
    let locked: boolean;
    try {
      locked = tryLock(handle.fd);
    } catch {
      // A file system without locks (some network ones): a sweep cannot lock there either,
      // so it deletes nothing, and backups still run.
      return { path: file, handle };
    }
    try {
      if (locked && (await stillNamedBy(handle, file))) return { path: file, handle };
    } catch (err) {
      await handle.close();
      throw err;
    }
    await handle.close();
  }
  throw new Error(`the temporary file in ${dir} was removed by another worker's sweep ${CREATE_TRIES} times`);
}
