import { PermanentTaskError, RetryableTaskError, TaskCancelledError } from '../errors';

/** What went wrong while running pg_dump, as pg-dump.ts observed it. */
export type PgDumpFailure =
  /** The process could not be started (ENOENT, EACCES, EAGAIN…). */
  | { kind: 'spawn'; error: NodeJS.ErrnoException }
  /** pg_dump ran and exited non-zero, or was killed by a signal we did not send. */
  | { kind: 'exit'; exitCode: number | null; signal: NodeJS.Signals | null; stderr: string }
  /** The attempt's AbortSignal fired; `reason` is the worker's AbortReason. */
  | { kind: 'aborted'; reason: unknown; stderr: string }
  /** Our own file work around the dump failed (mkdir, fsync, hash, rename). */
  | { kind: 'io'; error: NodeJS.ErrnoException; stage: string; stderr?: string };

interface Rule {
  code: string;
  retryable: boolean;
  what: string;
  patterns: RegExp[];
}

/*
 * First match wins, so the order matters: libpq prefixes nearly every error with
 * "connection to server at … failed:", which is why auth, missing database and permission
 * come before the generic connection rule. Patterns match English texts only; pg-dump.ts
 * runs pg_dump with LC_ALL=C so a localised installation cannot defeat them.
 */
const RULES: Rule[] = [
  {
    code: 'version_mismatch',
    retryable: false,
    what: 'the server is newer than this pg_dump; install a pg_dump of at least the server major version',
    patterns: [/server version mismatch/i],
  },
  {
    code: 'auth_failed',
    retryable: false,
    what: 'authentication failed; check the user and password of the target',
    patterns: [
      /password authentication failed/i,
      /no password supplied/i,
      /(ident|peer|gssapi|sspi|certificate|ldap|radius|pam) authentication failed/i,
      /no pg_hba\.conf entry/i,
      /role "[^"]*" does not exist/i,
    ],
  },
  {
    code: 'database_missing',
    retryable: false,
    what: 'the database does not exist',
    patterns: [/database "[^"]*" does not exist/i],
  },
  {
    code: 'permission_denied',
    retryable: false,
    what: 'permission denied; the role may lack CONNECT or SELECT privileges, or the backup directory is not writable',
    patterns: [/permission denied/i, /must be (the )?owner of/i],
  },
  {
    // Not retryable: a retry would fill the disk again, re-reading the whole database each
    // time, and retention only frees space after a successful dump. Dead-lettering alerts
    // an operator, who must make room; the next scheduled backup then runs normally.
    code: 'disk_full',
    retryable: false,
    what: 'the disk of the backup directory is full',
    patterns: [/no space left on device/i, /disk quota exceeded/i],
  },
  {
    code: 'invalid_target',
    retryable: false,
    what: 'the connection settings of the target are invalid',
    patterns: [
      /invalid (sslmode|gssencmode|channel_binding|port number|integer) value/i,
      /invalid connection option/i,
    ],
  },
  {
    code: 'connection_failed',
    retryable: true,
    what: 'could not connect to the database server',
    patterns: [
      /could not connect/i,
      /connection refused/i,
      /could not translate host name/i,
      /server closed the connection/i,
      /connection to server .* failed/i,
      /connection (timed out|reset by peer)/i,
      /timeout expired/i,
      /no route to host/i,
      /network is unreachable/i,
      /could not (receive|send) data (from|to) server/i,
      /the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)/i,
      /too many (clients|connections)|remaining connection slots are reserved/i,
      /terminating connection due to administrator command/i,
      /SSL SYSCALL error/i,
    ],
  },
];

const SPAWN_UNUSABLE = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'ENOEXEC', 'EISDIR']);
const IO_CODES: Record<string, { code: string; retryable: boolean; what: string }> = {
  ENOSPC: { code: 'disk_full', retryable: false, what: 'the disk of the backup directory is full' },
  EDQUOT: { code: 'disk_full', retryable: false, what: 'the disk quota of the backup directory is exceeded' },
  EACCES: { code: 'permission_denied', retryable: false, what: 'the backup directory is not writable' },
  EPERM: { code: 'permission_denied', retryable: false, what: 'the backup directory is not writable' },
  EROFS: {
    code: 'permission_denied',
    retryable: false,
    what: 'the backup directory is on a read-only file system',
  },
};

/** How the error text ends: the stderr tail, so operators see pg_dump's own words. */
function withStderr(message: string, stderr: string | undefined): string {
  const tail = stderr?.trim();
  return tail ? `${message}\nstderr: ${tail}` : message;
}

function taskError(retryable: boolean, message: string, code: string): Error {
  return retryable ? new RetryableTaskError(message, code) : new PermanentTaskError(message, code);
}

/**
 * Turns a pg_dump failure into the error the worker records: PermanentTaskError or
 * RetryableTaskError with a `code`, or TaskCancelledError for a cancellation (the worker
 * decides on the abort reason, but the executor must still end with a matching error).
 */
export function classifyPgDumpFailure(failure: PgDumpFailure, target: string): Error {
  const prefix = `pg_dump of backup target "${target}" failed`;
  switch (failure.kind) {
    case 'spawn': {
      const errno = failure.error.code ?? 'unknown';
      if (SPAWN_UNUSABLE.has(errno)) {
        return new PermanentTaskError(
          `${prefix}: pg_dump could not be run (${errno}: ${failure.error.message}); install the PostgreSQL client tools or fix the pg_dump path.`,
          'pg_dump_missing',
        );
      }
      return new RetryableTaskError(
        `${prefix}: pg_dump could not be started (${errno}: ${failure.error.message}).`,
        'pg_dump_failed',
      );
    }
    case 'aborted': {
      if (failure.reason === 'cancelled') return new TaskCancelledError();
      // shutdown and lease_lost: the worker writes no outcome, another attempt will run.
      if (failure.reason === 'shutdown' || failure.reason === 'lease_lost') {
        return new RetryableTaskError(
          withStderr(`${prefix}: interrupted (${failure.reason}); pg_dump was stopped.`, failure.stderr),
          'interrupted',
        );
      }
      return new RetryableTaskError(
        withStderr(`${prefix}: timed out; pg_dump was stopped.`, failure.stderr),
        'timeout',
      );
    }
    case 'io': {
      const errno = failure.error.code ?? '';
      const known = IO_CODES[errno];
      const detail = `${failure.stage}: ${failure.error.message}`;
      if (known)
        return taskError(
          known.retryable,
          withStderr(`${prefix}: ${known.what} (${detail}).`, failure.stderr),
          known.code,
        );
      return new RetryableTaskError(withStderr(`${prefix}: ${detail}.`, failure.stderr), 'pg_dump_failed');
    }
    case 'exit': {
      const rule = RULES.find((r) => r.patterns.some((p) => p.test(failure.stderr)));
      if (rule)
        return taskError(rule.retryable, withStderr(`${prefix}: ${rule.what}.`, failure.stderr), rule.code);
      const how =
        failure.exitCode === null
          ? `was killed by ${failure.signal ?? 'a signal'}`
          : `exited with code ${failure.exitCode}`;
      return new RetryableTaskError(
        withStderr(`${prefix}: pg_dump ${how}.`, failure.stderr),
        'pg_dump_failed',
      );
    }
  }
}
