import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PermanentTaskError, RetryableTaskError, TaskCancelledError } from '../errors';
import { classifyPgDumpFailure } from './classify-pg-dump-failure';
import { dieWithParent, findSetpriv, setprivExecFailure } from './die-with-parent';
import { pgEnvironment } from './pg-environment';
import type { PgDumpFailure } from './classify-pg-dump-failure';
import { createLockedPartial } from './partial-file';
import type { LockedPartial } from './partial-file';
import { TARGET_NAME, backupFileName } from './retention';
import type { PgDumpFormat } from './retention';

export interface PgDumpOptions {
  /** The target's name: the sub-directory of backupDir and the file name prefix. */
  target: string;
  /** postgres:// URL; it only ever reaches pg_dump through its environment. */
  url: string;
  format: PgDumpFormat;
  backupDir: string;
  signal?: AbortSignal;
  /** Defaults to `pg_dump`, found on PATH. */
  pgDumpPath?: string;
  /**
   * setpriv, which makes pg_dump die with this process (die-with-parent.ts). Defaults to the
   * one on PATH; null, or none found, runs pg_dump directly.
   */
  setprivPath?: string | null;
  /** Between SIGTERM and SIGKILL once the signal fires. */
  killGraceMs?: number;
  now?: () => Date;
}

export interface PgDumpResult {
  file: string;
  bytes: number;
  sha256: string;
  durationMs: number;
  /** The last bytes pg_dump wrote to stderr: warnings on success. */
  stderr: string;
}

const STDERR_TAIL_BYTES = 4096;
const DEFAULT_KILL_GRACE_MS = 5000;
/** Without it libpq waits on an unreachable host for as long as the OS does (minutes). */
const DEFAULT_CONNECT_TIMEOUT_S = '30';

/** Keeps the last STDERR_TAIL_BYTES of what is pushed: pg_dump says what failed at the end. */
function tailBuffer() {
  let tail = Buffer.alloc(0);
  return {
    push(chunk: Buffer) {
      const all = Buffer.concat([tail, chunk]);
      tail = all.subarray(Math.max(0, all.length - STDERR_TAIL_BYTES));
    },
    // A cut may split a UTF-8 sequence; drop the replacement characters it leaves.
    text: () => tail.toString('utf8').replace(/^\uFFFD+/, ''),
  };
}

type RunOutcome = { kind: 'ok'; stderr: string } | PgDumpFailure;

/** The PATH pg_dump and setpriv are found on: the worker's own. */
function inheritedPath(): string | undefined {
  // This is the child's environment, not our config.
  // eslint-disable-next-line no-restricted-syntax
  return process.env.PATH;
}

/** The setpriv that makes pg_dump die with its worker, or null when there is none on PATH. */
export function findPgDumpDeathHelper(): Promise<string | null> {
  return findSetpriv(inheritedPath() ?? '');
}

/**
 * Runs pg_dump to completion or until the signal fires. It leads its own process group
 * (detached) so that the kill reaches any child a wrapper script started, and a terminal's
 * Ctrl-C reaches only the worker, which then stops the dump in order. Through `setpriv`,
 * it also dies when the worker is killed outright.
 */
function runProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  {
    signal,
    graceMs,
    redact,
    setpriv,
  }: { signal?: AbortSignal; graceMs: number; redact: (s: string) => string; setpriv: string | null },
): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const stderr = tailBuffer();
    const run = setpriv ? dieWithParent(setpriv, command, args) : { command, args };
    let child: ChildProcess;
    try {
      child = spawn(run.command, run.args, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    } catch (error) {
      resolve({ kind: 'spawn', error: error as NodeJS.ErrnoException });
      return;
    }
    let aborted = false;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals) => {
      if (exited || child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const onAbort = () => {
      aborted = true;
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), graceMs);
    };
    let settled = false;
    const finish = (outcome: RunOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('exit', () => (exited = true));
    child.once('error', (error: NodeJS.ErrnoException) => {
      // 'error' also reports a failed kill; only a failed start ends the run here.
      if (child.pid === undefined) finish({ kind: 'spawn', error });
    });
    child.once('close', (exitCode: number | null, sig: NodeJS.Signals | null) => {
      const text = redact(stderr.text());
      const notExecuted = setpriv ? setprivExecFailure(exitCode, text) : null;
      if (aborted) finish({ kind: 'aborted', reason: signal?.reason, stderr: text });
      else if (notExecuted) finish({ kind: 'spawn', error: notExecuted });
      else if (exitCode === 0) finish({ kind: 'ok', stderr: text });
      else finish({ kind: 'exit', exitCode, signal: sig, stderr: text });
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Flushes the file to disk and hashes it, streaming, from what is actually on disk. */
async function syncAndHash(file: string, signal?: AbortSignal): Promise<{ bytes: number; sha256: string }> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      if (signal?.aborted) break;
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/** Makes the rename durable; some file systems refuse fsync on a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => null);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

const isTaskError = (err: unknown) =>
  err instanceof PermanentTaskError || err instanceof RetryableTaskError || err instanceof TaskCancelledError;

/**
 * Dumps one target into `backupDir/<target>/`. pg_dump writes a hidden temporary file,
 * locked by us while it is written, that is fsynced, hashed and renamed to its final name
 * only after a clean exit; on any failure or abort the temporary file is removed (one left
 * by a killed worker is for sweep-stale-partials.ts). Throws classified task errors.
 */
export async function runPgDump(o: PgDumpOptions): Promise<PgDumpResult> {
  const started = performance.now();
  if (!TARGET_NAME.test(o.target)) {
    throw new PermanentTaskError(
      `Backup target name "${o.target.slice(0, 80)}" is not usable as a directory name (letters, digits, _ . - only).`,
      'invalid_target',
    );
  }
  const fromUrl = pgEnvironment(o.target, o.url);
  const password = fromUrl.PGPASSWORD;
  // Short passwords would mangle ordinary words; libpq does not echo passwords anyway.
  const redact = (s: string) => (password && password.length >= 4 ? s.split(password).join('[redacted]') : s);
  const searchPath = inheritedPath();
  const env: Record<string, string> = {
    // Only PATH is inherited (to find pg_dump): stray PG* variables of the worker must not
    // redirect or authenticate the dump.
    ...(searchPath ? { PATH: searchPath } : {}),
    LC_ALL: 'C', // English messages for classify-pg-dump-failure.ts
    PGAPPNAME: 'procurator-pg-backup',
    PGCONNECT_TIMEOUT: DEFAULT_CONNECT_TIMEOUT_S,
    ...fromUrl,
  };

  const dir = path.join(o.backupDir, o.target);
  const finalName = backupFileName(o.target, o.format, (o.now ?? (() => new Date()))());
  const finalPath = path.join(dir, finalName);
  const fail = (f: PgDumpFailure) => classifyPgDumpFailure(f, o.target);

  if (o.signal?.aborted) throw fail({ kind: 'aborted', reason: o.signal.reason, stderr: '' });
  let stage = 'creating the backup directory';
  let stderr = '';
  let renamed = false;
  let partial: LockedPartial | undefined;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    stage = 'creating the temporary file';
    partial = await createLockedPartial(dir, finalName);
    const tempPath = partial.path;

    stage = 'running pg_dump';
    const args = [`--format=${o.format}`, '--no-password', `--file=${tempPath}`];
    const graceMs = o.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    const setpriv = o.setprivPath === undefined ? await findPgDumpDeathHelper() : o.setprivPath;
    const outcome = await runProcess(o.pgDumpPath ?? 'pg_dump', args, env, {
      signal: o.signal,
      graceMs,
      redact,
      setpriv,
    });
    if (outcome.kind !== 'ok') throw fail(outcome);
    stderr = outcome.stderr;

    stage = 'syncing and hashing the dump';
    const { bytes, sha256 } = await syncAndHash(tempPath, o.signal);
    // Checked after the hash too: a result the worker already gave up on must not appear.
    if (o.signal?.aborted) throw fail({ kind: 'aborted', reason: o.signal.reason, stderr });
    if (bytes === 0)
      throw new RetryableTaskError(`pg_dump of backup target "${o.target}" wrote nothing.`, 'pg_dump_failed');

    stage = 'renaming the dump';
    await rename(tempPath, finalPath);
    renamed = true;
    await syncDir(dir);
    return { file: finalPath, bytes, sha256, durationMs: Math.round(performance.now() - started), stderr };
  } catch (err) {
    if (isTaskError(err)) throw err;
    throw fail({ kind: 'io', error: err as NodeJS.ErrnoException, stage, stderr });
  } finally {
    // Removed before the lock goes, so no sweep ever races this removal.
    if (partial && !renamed) await rm(partial.path, { force: true }).catch(() => undefined);
    await partial?.handle.close().catch(() => undefined);
  }
}
