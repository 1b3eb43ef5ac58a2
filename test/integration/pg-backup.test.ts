import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPgDump } from '../../lib/backup/pg-dump';
import { sweepStalePartials } from '../../lib/backup/sweep-stale-partials';
import { PermanentTaskError, RetryableTaskError, TaskCancelledError } from '../../lib/errors';
import { createLogger, silentLogger } from '../../lib/logger';
import type { Logger } from '../../lib/logger';
import type { BackupSettings, TaskContext } from '../../lib/catalog/task-type';
import { pgBackupTaskType } from '../../worker/executors/pg-backup';
import { executorServices } from '../helpers/executor-services';
import { PG_ADMIN_URL, pgUrlFor } from '../helpers/pg-urls';

type Result = { file: string; bytes: number; sha256: string; durationMs: number };

const dbName = `procurator_bk_${randomBytes(5).toString('hex')}`;
let root: string;

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = PG_ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function ctx(
  payload: unknown,
  signal = new AbortController().signal,
  logger: Logger = silentLogger(),
): TaskContext {
  return {
    task: {
      id: `t_${randomBytes(4).toString('hex')}`,
      type: 'pg.backup',
      queue: 'default',
      payload,
      attempt: 1,
      maxAttempts: 3,
      timeoutMs: 60_000,
      metadata: {},
      createdBy: 'test',
    },
    attempt: 1,
    signal,
    logger,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  };
}

/** A fresh backup dir per test, so listings only show what that test did. */
async function freshDir(): Promise<string> {
  return mkdtemp(path.join(root, 'dir-'));
}

/** The pg.backup task type as a worker with these settings runs it. */
function backupRunner(backups: BackupSettings): (c: TaskContext) => Promise<unknown> {
  const type = pgBackupTaskType(Object.keys(backups.targets));
  return (c) => type.run(c, executorServices({ backups }));
}

function executor(dir: string, extra: Partial<BackupSettings> = {}) {
  return backupRunner({ targets: { main: pgUrlFor(dbName) }, dir, keep: 7, ...extra });
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** A stand-in for pg_dump: a shell script that records its pid and does what `body` says. */
async function fakePgDump(body: string): Promise<{ script: string; pidFile: string }> {
  const dir = await mkdtemp(path.join(root, 'bin-'));
  const pidFile = path.join(dir, 'pid');
  const script = path.join(dir, 'fake-pg-dump.sh');
  await writeFile(script, `#!/bin/sh\necho $$ > '${pidFile}'\n${body}\n`);
  await chmod(script, 0o755);
  return { script, pidFile };
}

async function waitForFile(file: string, timeoutMs = 5000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim()) return text.trim();
    if (Date.now() > until) throw new Error(`${file} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'procurator-bk-'));
  await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
  await admin(async (c) => {
    await c.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL)');
    await c.query("INSERT INTO widgets (name) SELECT 'widget ' || g FROM generate_series(1, 500) g");
  }, pgUrlFor(dbName));
});

afterAll(async () => {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  await rm(root, { recursive: true, force: true });
});

describe('pg.backup against the local PostgreSQL', () => {
  it.each(['custom', 'tar'] as const)('writes a %s dump that pg_restore --list accepts', async (format) => {
    const dir = await freshDir();
    const result = (await executor(dir)(ctx({ target: 'main', format }))) as Result;
    expect(path.dirname(result.file)).toBe(path.join(dir, 'main'));
    expect(path.basename(result.file)).toMatch(
      new RegExp(`^main-\\d{8}T\\d{6}\\.\\d{3}Z\\.${format === 'custom' ? 'dump' : 'tar'}$`),
    );
    const toc = execFileSync('pg_restore', ['--list', result.file], { encoding: 'utf8', timeout: 30_000 });
    expect(toc).toMatch(/TABLE public widgets/);
    expect(toc).toMatch(/TABLE DATA public widgets/);

    const bytes = await readFile(result.file);
    expect(result.bytes).toBe(bytes.length);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await stat(result.file)).mode & 0o777).toBe(0o600);
    expect(await listing(path.join(dir, 'main'))).toEqual([path.basename(result.file)]);
  });

  it('defaults to custom and writes a plain dump with the CREATE TABLE', async () => {
    const dir = await freshDir();
    const custom = (await executor(dir)(ctx({ target: 'main' }))) as Result;
    expect(custom.file.endsWith('.dump')).toBe(true);
    const plain = (await executor(dir)(ctx({ target: 'main', format: 'plain' }))) as Result;
    expect(plain.file.endsWith('.sql')).toBe(true);
    const sql = await readFile(plain.file, 'utf8');
    expect(sql).toContain('CREATE TABLE public.widgets');
    expect(sql).toContain('widget 500');
    expect(plain.sha256).toBe(createHash('sha256').update(sql).digest('hex'));
  });

  it('keeps the 2 newest backups with keep=2, and no temporary or unrelated file is touched', async () => {
    const dir = await freshDir();
    await mkdir(path.join(dir, 'main'), { recursive: true });
    const decoys = [
      '.main-20000101T000000.000Z.dump.abcd.partial',
      'mainly-20000101T000000.000Z.dump',
      'notes.txt',
    ];
    for (const d of decoys) await writeFile(path.join(dir, 'main', d), 'x');
    let t = Date.parse('2025-03-01T10:00:00.000Z');
    const run = executor(dir, { keep: 2, now: () => new Date((t += 60_000)) });
    const files: string[] = [];
    for (let i = 0; i < 3; i++)
      files.push(path.basename(((await run(ctx({ target: 'main' }))) as Result).file));
    expect(files).toEqual([
      'main-20250301T100100.000Z.dump',
      'main-20250301T100200.000Z.dump',
      'main-20250301T100300.000Z.dump',
    ]);
    expect(await listing(path.join(dir, 'main'))).toEqual([...decoys, files[1]!, files[2]!].sort());
  });

  it('fails a missing database permanently with database_missing and leaves no file', async () => {
    const dir = await freshDir();
    const run = backupRunner({
      targets: { gone: pgUrlFor(`${dbName}_missing`) },
      dir,
      keep: 3,
    });
    const err = await run(ctx({ target: 'gone' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect((err as PermanentTaskError).code).toBe('database_missing');
    expect((err as Error).message).toMatch(
      /^pg_dump of backup target "gone" failed: the database does not exist/,
    );
    expect((err as Error).message).toMatch(/\nstderr: .*database ".*_missing" does not exist/);
    expect(await listing(path.join(dir, 'gone'))).toEqual([]);
  });

  it('fails retryable with connection_failed when nothing listens, and leaves no file', async () => {
    const dir = await freshDir();
    const run = backupRunner({
      targets: { down: 'postgres://postgres:pw-not-logged@127.0.0.1:1/postgres' },
      dir,
      keep: 3,
    });
    const err = await run(ctx({ target: 'down' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect((err as RetryableTaskError).code).toBe('connection_failed');
    expect((err as Error).message).toMatch(/Connection refused/);
    expect((err as Error).message).not.toContain('pw-not-logged');
    expect(await listing(path.join(dir, 'down'))).toEqual([]);
  });

  // Through setpriv (the default here) and without it, as where setpriv is missing.
  it.each([undefined, null])(
    'reports a missing pg_dump as pg_dump_missing (setprivPath %s)',
    async (setprivPath) => {
      const dir = await freshDir();
      const missing = path.join(root, 'no', 'such', 'pg_dump');
      const err = await runPgDump({
        target: 'main',
        url: pgUrlFor(dbName),
        format: 'custom',
        backupDir: dir,
        pgDumpPath: missing,
        setprivPath,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentTaskError);
      expect((err as PermanentTaskError).code).toBe('pg_dump_missing');
      expect((err as Error).message).toContain(missing);
      expect(await listing(path.join(dir, 'main'))).toEqual([]);
    },
  );
});

describe('pg.backup process handling (fake pg_dump)', () => {
  it('passes the connection through the environment, never argv or logs', async () => {
    const fake = await fakePgDump(
      [
        `printf '%s\\n' "$@" > '${root}/args'`,
        `printf '%s|%s|%s|%s|%s' "$PGHOST" "$PGPORT" "$PGUSER" "$PGDATABASE" "$PGPASSWORD" > '${root}/env'`,
        'for a in "$@"; do case "$a" in --file=*) printf \'fake dump\' > "${a#--file=}";; esac; done',
      ].join('\n'),
    );
    const lines: string[] = [];
    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    );
    const dir = await freshDir();
    const run = backupRunner({
      targets: { app: 'postgres://app%40corp:S3cret%2Fpass@db.internal:6543/app_db?sslmode=require' },
      dir,
      keep: 3,
      pgDumpPath: fake.script,
    });
    const result = (await run(ctx({ target: 'app', format: 'plain' }, undefined, logger))) as Result;
    expect(result.bytes).toBe(9);
    expect(result.sha256).toBe(createHash('sha256').update('fake dump').digest('hex'));
    const args = (await readFile(path.join(root, 'args'), 'utf8')).trim().split('\n');
    expect(args).toEqual(['--format=plain', '--no-password', expect.stringMatching(/^--file=.*\.partial$/)]);
    expect(await readFile(path.join(root, 'env'), 'utf8')).toBe(
      'db.internal|6543|app@corp|app_db|S3cret/pass',
    );
    const logs = lines.join('');
    expect(logs).toContain('pg.backup finished');
    expect(logs).not.toContain('S3cret');
  });

  it('runs pg_dump directly where setpriv is missing', async () => {
    const fake = await fakePgDump(
      'for a in "$@"; do case "$a" in --file=*) printf \'fake dump\' > "${a#--file=}";; esac; done',
    );
    const dir = await freshDir();
    const result = await runPgDump({
      target: 'main',
      url: pgUrlFor(dbName),
      format: 'custom',
      backupDir: dir,
      pgDumpPath: fake.script,
      setprivPath: null,
    });
    expect(result.bytes).toBe(9);
    expect(await listing(path.join(dir, 'main'))).toEqual([path.basename(result.file)]);
  });

  const sleeper = 'exec sleep 30';
  const stubborn = "trap '' TERM\nwhile :; do sleep 1; done";

  // The stubborn one ignores SIGTERM (so does its `sleep`, inheriting the disposition):
  // only the SIGKILL after the grace period ends it.
  it.each([
    ['timeout', 'exits on SIGTERM', sleeper, RetryableTaskError, 'timeout'],
    ['cancelled', 'exits on SIGTERM', sleeper, TaskCancelledError, undefined],
    ['timeout', 'ignores SIGTERM', stubborn, RetryableTaskError, 'timeout'],
    ['shutdown', 'exits on SIGTERM', sleeper, RetryableTaskError, 'interrupted'],
  ] as const)(
    'on abort (%s) kills a pg_dump that %s and removes the temp file',
    async (reason, _how, body, type, code) => {
      const fake = await fakePgDump(body);
      const dir = await freshDir();
      const controller = new AbortController();
      const started = Date.now();
      const running = executor(dir, { pgDumpPath: fake.script, killGraceMs: 200 })(
        ctx({ target: 'main' }, controller.signal),
      );
      const pid = Number(await waitForFile(fake.pidFile));
      expect((await listing(path.join(dir, 'main'))).filter((f) => f.endsWith('.partial'))).toHaveLength(1);
      controller.abort(reason);
      const err = await running.catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(err).toBeInstanceOf(type);
      if (code) expect((err as RetryableTaskError).code).toBe(code);
      expect(isAlive(pid)).toBe(false);
      expect(await listing(path.join(dir, 'main'))).toEqual([]);
    },
  );

  it('a sweep while a dump runs leaves its temporary file alone and removes a stale one', async () => {
    const fake = await fakePgDump(
      [
        'for a in "$@"; do case "$a" in --file=*) printf \'begun\' > "${a#--file=}";; esac; done',
        'exec sleep 30',
      ].join('\n'),
    );
    const dir = await freshDir();
    const stale = path.join(dir, 'main', '.main-20000101T000000.000Z.dump.0123abcd.partial');
    const controller = new AbortController();
    const running = executor(dir, { pgDumpPath: fake.script, killGraceMs: 200 })(
      ctx({ target: 'main' }, controller.signal),
    );
    try {
      await waitForFile(fake.pidFile);
      const [live] = (await listing(path.join(dir, 'main'))).filter((f) => f.endsWith('.partial'));
      await writeFile(stale, 'left by a killed worker');
      const swept = await sweepStalePartials({ backupDir: dir, targets: ['main'], logger: silentLogger() });
      expect(swept.removed).toEqual([stale]);
      expect(swept.live).toEqual([path.join(dir, 'main', live!)]);
      expect(await listing(path.join(dir, 'main'))).toEqual([live]);
      expect(await readFile(path.join(dir, 'main', live!), 'utf8')).toBe('begun');
    } finally {
      controller.abort('cancelled');
      await running.catch(() => undefined);
    }
    expect(await listing(path.join(dir, 'main'))).toEqual([]);
  });

  it('classifies a non-zero exit and removes the partial output', async () => {
    const fake = await fakePgDump(
      [
        'for a in "$@"; do case "$a" in --file=*) printf \'half\' > "${a#--file=}";; esac; done',
        'echo "pg_dump: error: could not write to output file: No space left on device" >&2',
        'exit 1',
      ].join('\n'),
    );
    const dir = await freshDir();
    const err = await executor(dir, { pgDumpPath: fake.script })(ctx({ target: 'main' })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect((err as PermanentTaskError).code).toBe('disk_full');
    expect((err as Error).message).toMatch(
      /\nstderr: pg_dump: error: could not write to output file: No space left on device$/,
    );
    expect(await listing(path.join(dir, 'main'))).toEqual([]);
  });
});
