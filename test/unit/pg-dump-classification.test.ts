import { describe, expect, it } from 'vitest';
import { classifyPgDumpFailure } from '../../lib/backup/classify-pg-dump-failure';
import type { PgDumpFailure } from '../../lib/backup/classify-pg-dump-failure';
import { pgEnvironment } from '../../lib/backup/pg-environment';
import { backupFileName, backupTimestamp } from '../../lib/backup/retention';
import { pgBackupTaskType } from '../../worker/executors/pg-backup';
import {
  PermanentTaskError,
  RetryableTaskError,
  TaskCancelledError,
  describeTaskError,
} from '../../lib/errors';

const exit = (stderr: string, exitCode: number | null = 1): PgDumpFailure => ({
  kind: 'exit',
  exitCode,
  signal: exitCode === null ? 'SIGKILL' : null,
  stderr,
});
const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`spawn pg_dump ${code}`), { code });

describe('classifyPgDumpFailure', () => {
  const cases: [string, PgDumpFailure, string, boolean][] = [
    [
      'wrong password',
      exit(
        'pg_dump: error: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "backup"',
      ),
      'auth_failed',
      false,
    ],
    [
      'no password with --no-password',
      exit(
        'pg_dump: error: connection to server at "db", port 5432 failed: fe_sendauth: no password supplied',
      ),
      'auth_failed',
      false,
    ],
    [
      'pg_hba rejects',
      exit(
        'pg_dump: error: connection to server at "db" (10.0.0.5), port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "backup", database "app", no encryption',
      ),
      'auth_failed',
      false,
    ],
    [
      'unknown role',
      exit(
        'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  role "nobody" does not exist',
      ),
      'auth_failed',
      false,
    ],
    [
      'connection refused (PostgreSQL 14+)',
      exit(
        'pg_dump: error: connection to server at "127.0.0.1", port 5499 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?',
      ),
      'connection_failed',
      true,
    ],
    [
      'connection refused (older libpq)',
      exit(
        'pg_dump: [archiver (db)] connection to database "app" failed: could not connect to server: Connection refused',
      ),
      'connection_failed',
      true,
    ],
    [
      'unknown host',
      exit(
        'pg_dump: error: could not translate host name "db.invalid" to address: Name or service not known',
      ),
      'connection_failed',
      true,
    ],
    [
      'server went away',
      exit(
        'pg_dump: error: Dumping the contents of table "big" failed: PQgetResult() failed.\npg_dump: detail: Error message from server: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally',
      ),
      'connection_failed',
      true,
    ],
    [
      'too many clients',
      exit(
        'pg_dump: error: connection to server at "db", port 5432 failed: FATAL:  sorry, too many clients already',
      ),
      'connection_failed',
      true,
    ],
    [
      'database missing',
      exit(
        'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "nope" does not exist',
      ),
      'database_missing',
      false,
    ],
    [
      'no CONNECT privilege',
      exit(
        'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  permission denied for database "app"\nDETAIL:  User does not have CONNECT privilege.',
      ),
      'permission_denied',
      false,
    ],
    [
      'table not readable',
      exit(
        'pg_dump: error: query failed: ERROR:  permission denied for table secret\npg_dump: detail: Query was: LOCK TABLE public.secret IN ACCESS SHARE MODE',
      ),
      'permission_denied',
      false,
    ],
    [
      'output not writable',
      exit('pg_dump: error: could not open output file "/backups/main/.x.partial": Permission denied'),
      'permission_denied',
      false,
    ],
    [
      'disk full while writing',
      exit('pg_dump: error: could not write to output file: No space left on device'),
      'disk_full',
      false,
    ],
    [
      'server newer than pg_dump',
      exit(
        'pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 17.2; pg_dump version: 15.20',
      ),
      'version_mismatch',
      false,
    ],
    ['bad sslmode', exit('pg_dump: error: invalid sslmode value: "sometimes"'), 'invalid_target', false],
    ['unknown failure', exit('pg_dump: error: out of memory', 1), 'pg_dump_failed', true],
    ['killed by the OOM killer', exit('', null), 'pg_dump_failed', true],
    ['pg_dump missing', { kind: 'spawn', error: errno('ENOENT') }, 'pg_dump_missing', false],
    ['pg_dump not executable', { kind: 'spawn', error: errno('EACCES') }, 'pg_dump_missing', false],
    ['no processes left', { kind: 'spawn', error: errno('EAGAIN') }, 'pg_dump_failed', true],
    ['timeout', { kind: 'aborted', reason: 'timeout', stderr: '' }, 'timeout', true],
    ['shutdown', { kind: 'aborted', reason: 'shutdown', stderr: '' }, 'interrupted', true],
    ['ENOSPC on fsync', { kind: 'io', error: errno('ENOSPC'), stage: 'syncing' }, 'disk_full', false],
    ['EACCES on mkdir', { kind: 'io', error: errno('EACCES'), stage: 'mkdir' }, 'permission_denied', false],
    ['EIO on rename', { kind: 'io', error: errno('EIO'), stage: 'renaming' }, 'pg_dump_failed', true],
  ];

  it.each(cases)('%s', (_name, failure, code, retryable) => {
    const err = classifyPgDumpFailure(failure, 'main');
    expect(err).toBeInstanceOf(retryable ? RetryableTaskError : PermanentTaskError);
    expect(describeTaskError(err)).toMatchObject({ code, retryable });
    expect(err.message).toMatch(/^pg_dump of backup target "main" failed: /);
  });

  it('keeps the stderr tail at the end of the message', () => {
    const err = classifyPgDumpFailure(exit('pg_dump: error: out of memory\n'), 'main');
    expect(err.message).toBe(
      'pg_dump of backup target "main" failed: pg_dump exited with code 1.\nstderr: pg_dump: error: out of memory',
    );
  });

  it('turns a cancellation into TaskCancelledError', () => {
    const err = classifyPgDumpFailure({ kind: 'aborted', reason: 'cancelled', stderr: '' }, 'main');
    expect(err).toBeInstanceOf(TaskCancelledError);
    expect(describeTaskError(err)).toMatchObject({ code: 'cancelled', retryable: false });
  });
});

describe('pgEnvironment', () => {
  it('maps a URL to libpq variables, decoding userinfo and honouring query parameters', () => {
    expect(
      pgEnvironment(
        't',
        'postgresql://u%3Ax:p%40ss@[::1]:6543/my%20db?sslmode=verify-full&connect_timeout=5',
      ),
    ).toEqual({
      PGHOST: '::1',
      PGPORT: '6543',
      PGUSER: 'u:x',
      PGPASSWORD: 'p@ss',
      PGDATABASE: 'my db',
      PGSSLMODE: 'verify-full',
      PGCONNECT_TIMEOUT: '5',
    });
    expect(pgEnvironment('t', 'postgres:///app?host=/var/run/postgresql')).toEqual({
      PGHOST: '/var/run/postgresql',
      PGDATABASE: 'app',
    });
  });

  it('refuses unknown parameters and non-URLs without echoing the URL', () => {
    const bad = (url: string) => {
      try {
        pgEnvironment('t', url);
      } catch (err) {
        return err as PermanentTaskError;
      }
      throw new Error('accepted');
    };
    expect(bad('postgres://u:hunter22@h/db?sslmod=require')).toMatchObject({ code: 'invalid_target' });
    expect(bad('postgres://u:hunter22@h/db?sslmod=require').message).not.toContain('hunter22');
    expect(bad('mysql://u:hunter22@h/db').code).toBe('invalid_target');
  });
});

describe('backup file names', () => {
  it('round-trips the timestamp and ignores other names', () => {
    const name = backupFileName('main', 'tar', new Date('2025-01-02T03:04:05.678Z'));
    expect(name).toBe('main-20250102T030405.678Z.tar');
    expect(backupTimestamp('main', name)).toBe('20250102T030405.678Z');
    expect(backupTimestamp('mai', name)).toBeNull();
    expect(backupTimestamp('main', `.${name}.ab12.partial`)).toBeNull();
  });
});

describe('pg.backup catalog entry', () => {
  const schema = pgBackupTaskType(['main', 'analytics']).payload;

  it('accepts a configured target and defaults the format to custom', () => {
    expect(schema.parse({ target: 'main' })).toEqual({ target: 'main', format: 'custom' });
    expect(schema.parse({ target: 'analytics', format: 'tar' })).toEqual({
      target: 'analytics',
      format: 'tar',
    });
  });

  it('refuses an unknown target, naming the known ones', () => {
    const r = schema.safeParse({ target: 'prod' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe(
      'Unknown backup target; the configured targets are: analytics, main.',
    );
  });

  it('says when no target is configured', () => {
    const r = pgBackupTaskType([]).payload.safeParse({ target: 'main' });
    expect(r.error?.issues[0]?.message).toMatch(/No backup targets are configured/);
  });

  it('refuses extra fields such as a connection string, and unknown formats', () => {
    expect(schema.safeParse({ target: 'main', url: 'postgres://x@y/z' }).success).toBe(false);
    expect(schema.safeParse({ target: 'main', format: 'directory' }).success).toBe(false);
  });
});
