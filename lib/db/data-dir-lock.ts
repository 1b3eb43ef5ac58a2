import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLock } from 'fs-native-extensions';

/** The file in DATA_DIR whose lock marks the directory as taken. */
export const LOCK_FILE_NAME = 'procurator.lock';

/** Who holds the lock, as the holder wrote it into the lock file: for people, not for the lock. */
export interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** DATA_DIR is locked by another open file: a live process, maybe this one. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | undefined,
    ownHost: string,
  ) {
    const who = holder
      ? `pid ${holder.pid}${holder.host && holder.host !== ownHost ? ` on host ${holder.host}` : ''}`
      : 'another process';
    super(
      `DATA_DIR ${dir} is in use by ${who}: the embedded database takes one process at a time. ` +
        'Stop that process first; while serve runs, manage users through its API (POST /v1/users) ' +
        'with an admin token.',
    );
    this.name = 'DataDirInUseError';
  }
}

export interface DataDirLock {
  /** The resolved directory. */
  readonly dir: string;
  /** Gives the directory up; safe to call twice. */
  release(): void;
}

export interface LockIdentity {
  pid: number;
  host: string;
  now: () => Date;
}

const ME: LockIdentity = { pid: process.pid, host: hostname(), now: () => new Date() };

/**
 * Takes DATA_DIR for this process, or throws DataDirInUseError at once. The lock is the
 * kernel's, held by an open file (Linux OFD lock, BSD flock, Windows LockFileEx): it goes
 * when the file is closed or the process dies, even by kill -9. No pid is ever checked for
 * liveness, so a stale lock file or a pid reused by another process (every container's
 * pid 1) can neither block a start nor let a second process in.
 */
export async function lockDataDir(dataDir: string, me: LockIdentity = ME): Promise<DataDirLock> {
  const dir = path.resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE_NAME);
  // Opened without truncating: until the lock is ours, the file names the holder. Write
  // access because an exclusive fcntl lock needs it.
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
  let locked = false;
  try {
    locked = tryLock(fd);
  } finally {
    if (!locked) closeSync(fd);
  }
  if (!locked) throw new DataDirInUseError(dir, await readHolder(file), me.host);
  try {
    const text = Buffer.from(
      `${JSON.stringify({ pid: me.pid, host: me.host, since: me.now().toISOString() })}\n`,
    );
    // Written in place, then cut to length: a reader never finds the file empty once a
    // holder has written it.
    writeSync(fd, text, 0, text.length, 0);
    ftruncateSync(fd, text.length);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let released = false;
  return {
    dir,
    release() {
      if (released) return;
      released = true;
      // Closing the only descriptor of this open file releases its lock.
      closeSync(fd);
    },
  };
}

/**
 * The holder's note. A holder that has just taken the lock may not have written it yet, so
 * an unreadable note is read again a few times (200 ms at most) before giving up on it.
 */
async function readHolder(file: string): Promise<LockHolder | undefined> {
  for (let i = 0; i < 10; i++) {
    const holder = parseHolder(file);
    if (holder) return holder;
    await sleep(20);
  }
  return undefined;
}

function parseHolder(file: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid)) return undefined;
    return { pid: parsed.pid, host: String(parsed.host ?? ''), since: String(parsed.since ?? '') };
  } catch {
    return undefined;
  }
}
