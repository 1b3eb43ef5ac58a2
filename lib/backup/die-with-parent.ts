import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

/*
 * pg_dump leads its own process group (pg-dump.ts), so nothing stops it when its worker is
 * killed outright (SIGKILL, the OOM killer): it would run on for hours, holding a connection
 * and writing a file nobody renames. Linux can send a process a signal when its parent dies
 * (prctl PR_SET_PDEATHSIG), but Node cannot call prctl, so util-linux's `setpriv
 * --pdeathsig KILL` sets it and then execs pg_dump: same pid, same process group, and the
 * setting survives the exec (pg_dump is not set-user-ID). The signal fires when the *thread*
 * that forked exits: child_process.spawn forks synchronously on the thread running the
 * JavaScript, the worker's main thread, which lives as long as the process. (Called from a
 * worker_thread, pg_dump would die with that thread, which is also acceptable.)
 *
 * Chosen over a watchdog on a pipe (a wrapper that kills pg_dump at EOF on its stdin)
 * because that keeps a second process beside every dump, which must pass on our signals
 * and pg_dump's exit status; setpriv is one exec and nothing stays behind. Where setpriv is
 * missing, pg_dump runs as before and the worker warns at start (prepare-backups.ts).
 */

const found = new Map<string, Promise<string | null>>();

async function firstExecutable(name: string, searchPath: string): Promise<string | null> {
  // Relative entries (an empty one means the cwd) are skipped: the helper runs every dump.
  for (const dir of searchPath.split(path.delimiter).filter((d) => path.isAbsolute(d))) {
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The absolute path of `setpriv` on `searchPath`, or null; looked up once per PATH value. */
export function findSetpriv(searchPath: string): Promise<string | null> {
  let lookup = found.get(searchPath);
  if (!lookup) {
    lookup = firstExecutable('setpriv', searchPath);
    found.set(searchPath, lookup);
  }
  return lookup;
}

/** `command args…` run through setpriv, so it is SIGKILLed when its parent dies. */
export function dieWithParent(
  setpriv: string,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  return { command: setpriv, args: ['--pdeathsig', 'KILL', '--', command, ...args] };
}

/**
 * setpriv's own report that it could not exec the command (exit 127: not found, 126: not
 * executable, with "setpriv: failed to execute …"), turned into the spawn error a direct
 * spawn would have given, so a missing pg_dump is still reported as such.
 */
export function setprivExecFailure(exitCode: number | null, stderr: string): NodeJS.ErrnoException | null {
  if (exitCode !== 127 && exitCode !== 126) return null;
  const line = /^setpriv: failed to execute .*$/m.exec(stderr)?.[0];
  if (line === undefined) return null;
  return Object.assign(new Error(line), { code: exitCode === 127 ? 'ENOENT' : 'EACCES' });
}
