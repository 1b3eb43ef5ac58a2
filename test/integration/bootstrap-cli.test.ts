import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, hashToken } from '../../lib/auth/tokens';
import type { Database } from '../../lib/db/client';
import { callApi, clearPrefix, clusterEnv } from '../helpers/cluster';
import { createTestPostgres } from '../helpers/databases';
import type { TestPostgres } from '../helpers/databases';
import { listeningPort, runProcurator, spawnProcurator } from '../helpers/processes';
import { testPrefix } from '../helpers/redis';

/**
 * `procurator bootstrap --secrets-dir DIR`, the built command, against PostgreSQL: what the
 * one-shot `bootstrap` service of infra/docker-compose.yml runs before `serve` and the workers.
 */

const TOKEN_RE = /prc_[0-9A-Za-z]{49}/g;

interface Run {
  code: number | null;
  stdout: string;
}

describe('procurator bootstrap', () => {
  let pg: TestPostgres;
  let db: Database;
  let dir: string;
  let secrets: string;
  let env: Record<string, string>;
  const prefix = testPrefix('bootstrap');

  const bootstrap = (...extra: string[]): Promise<Run> =>
    runProcurator(['bootstrap', '--secrets-dir', secrets, ...extra], env);
  const read = (name: string) => readFile(path.join(secrets, name), 'utf8');
  const userRows = () =>
    db.rows<{ name: string; role: string; token_hash: string }>(
      sql`SELECT name, role, token_hash FROM users WHERE deleted_at IS NULL ORDER BY id`,
    );
  const auditRows = () =>
    db.rows<{ actor_id: string; action: string }>(sql`SELECT actor_id, action FROM audit_log ORDER BY id`);

  beforeAll(async () => {
    pg = await createTestPostgres();
    db = pg.open(2);
    dir = await mkdtemp(path.join(tmpdir(), 'procurator-bootstrap-'));
    // Not there yet: the command makes it, as on a fresh volume's subfolder.
    secrets = path.join(dir, 'secrets');
    env = clusterEnv(pg.url, prefix);
  });
  afterAll(async () => {
    await pg?.drop();
    await clearPrefix(prefix);
    await rm(dir, { recursive: true, force: true });
  });

  let first: Run;
  let adminToken: string;
  let opsToken: string;
  let metricsToken: string;

  it('on an empty database: an admin (token printed once), an ops user and the scrape token', async () => {
    first = await bootstrap();
    expect(first.code, first.stdout).toBe(0);
    const printed = first.stdout.match(TOKEN_RE) ?? [];
    expect(printed).toHaveLength(1);
    adminToken = printed[0]!;
    expect(first.stdout).toContain('Created admin user "admin"');
    expect(first.stdout).toContain('shown only this once');
    opsToken = await read('ops-token');
    metricsToken = await read('metrics-token');
    expect(opsToken).toMatch(/^prc_[0-9A-Za-z]{49}$/);
    expect(metricsToken).toMatch(/^prc_[0-9A-Za-z]{49}$/);
    // The ops token and the scrape token are never printed.
    expect(first.stdout).not.toContain(opsToken);
    expect(first.stdout).not.toContain(metricsToken);
    expect((await userRows()).map((u) => [u.name, u.role])).toEqual([
      ['admin', 'admin'],
      ['monitoring', 'ops'],
    ]);
    expect(await auditRows()).toEqual([
      { actor_id: 'bootstrap', action: 'user.create' },
      { actor_id: 'bootstrap', action: 'user.create' },
    ]);
  });

  it('leaves the files readable by owner and group only, in a directory others cannot enter', async () => {
    expect((await stat(secrets)).mode & 0o777).toBe(0o750);
    for (const f of ['ops-token', 'metrics-token']) {
      expect((await stat(path.join(secrets, f))).mode & 0o777, f).toBe(0o640);
    }
  });

  it('gives serve what it needs: the admin and ops tokens work, /metrics takes the token file', async () => {
    const serve = spawnProcurator(['serve'], {
      ...env,
      METRICS_TOKEN_FILE: path.join(secrets, 'metrics-token'),
    });
    try {
      const port = await listeningPort(serve);
      expect((await callApi(port, adminToken, 'GET', '/v1/me')).body).toMatchObject({ role: 'admin' });
      expect((await callApi(port, opsToken, 'GET', '/v1/me')).body).toMatchObject({
        name: 'monitoring',
        role: 'ops',
      });
      const metrics = (auth?: string) =>
        fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth ? { Authorization: auth } : {} });
      expect((await metrics()).status).toBe(401);
      expect((await metrics(`Bearer ${metricsToken}`)).status).toBe(200);
    } finally {
      await serve.stop();
    }
  });

  it('run again: changes nothing and prints nothing secret', async () => {
    const before = {
      users: await userRows(),
      audit: await auditRows(),
      ops: await stat(path.join(secrets, 'ops-token')),
      metrics: await stat(path.join(secrets, 'metrics-token')),
    };
    const again = await bootstrap();
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout.match(TOKEN_RE)).toBeNull();
    expect(again.stdout).toContain('admin present, unchanged');
    expect(again.stdout).toContain('ops user "monitoring" present, unchanged');
    expect(await userRows()).toEqual(before.users);
    expect(await auditRows()).toEqual(before.audit);
    expect(await read('ops-token')).toBe(opsToken);
    expect(await read('metrics-token')).toBe(metricsToken);
    expect((await stat(path.join(secrets, 'ops-token'))).mtimeMs).toBe(before.ops.mtimeMs);
    expect((await stat(path.join(secrets, 'metrics-token'))).mtimeMs).toBe(before.metrics.mtimeMs);
  });

  it('a lost ops token file: the user gets a new token, written to the file; the old one stops working', async () => {
    await rm(path.join(secrets, 'ops-token'));
    const run = await bootstrap();
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout.match(TOKEN_RE)).toBeNull();
    expect(run.stdout).toContain('given a new token');
    const renewed = await read('ops-token');
    expect(renewed).not.toBe(opsToken);
    const monitoring = (await userRows()).filter((u) => u.name === 'monitoring');
    expect(monitoring).toHaveLength(1);
    // The database now knows the new token only: the old one is refused.
    expect(monitoring[0]!.token_hash).toBe(hashToken(renewed));
    expect(monitoring[0]!.token_hash).not.toBe(hashToken(opsToken));
    expect(await auditRows()).toContainEqual({ actor_id: 'bootstrap', action: 'user.rotate_token' });
    expect(await read('metrics-token')).toBe(metricsToken);
    opsToken = renewed;
  });

  it('an ops token file that no longer holds the current token (rotated elsewhere) is renewed too', async () => {
    await writeFile(path.join(secrets, 'ops-token'), generateToken());
    const run = await bootstrap();
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('given a new token');
    expect(await read('ops-token')).not.toBe(opsToken);
  });

  it('a lost scrape token is made again; the users stay as they are', async () => {
    const users = await userRows();
    await rm(path.join(secrets, 'metrics-token'));
    const run = await bootstrap();
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('metrics token created');
    expect(await read('metrics-token')).not.toBe(metricsToken);
    expect(await userRows()).toEqual(users);
  });
});

describe('procurator bootstrap, refusals and other starting points', () => {
  let pg: TestPostgres;
  let db: Database;
  let dir: string;
  beforeAll(async () => {
    pg = await createTestPostgres();
    db = pg.open(2);
    dir = await mkdtemp(path.join(tmpdir(), 'procurator-bootstrap-'));
  });
  afterAll(async () => {
    await pg?.drop();
    await rm(dir, { recursive: true, force: true });
  });
  const env = () => ({ DATABASE_URL: pg.url });

  it('needs --secrets-dir (usage error, exit 2)', async () => {
    const run = await runProcurator(['bootstrap'], env());
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('--secrets-dir DIR is required');
  });

  it('creates no admin when one exists already, whatever its name', async () => {
    const created = await runProcurator(['create-admin', '--name', 'platform', '--json'], env());
    expect(created.code).toBe(0);
    const run = await runProcurator(['bootstrap', '--secrets-dir', path.join(dir, 'a')], env());
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout.match(TOKEN_RE)).toBeNull();
    const admins = await db.rows<{ name: string }>(
      sql`SELECT name FROM users WHERE role = 'admin' AND deleted_at IS NULL`,
    );
    expect(admins).toEqual([{ name: 'platform' }]);
  });

  it('refuses an ops name held by a user of another role, and writes no token', async () => {
    const other = await runProcurator(
      ['create-user', '--name', 'watcher', '--role', 'admin', '--json'],
      env(),
    );
    expect(other.code).toBe(0);
    const secrets = path.join(dir, 'b');
    const run = await runProcurator(['bootstrap', '--secrets-dir', secrets, '--ops-name', 'watcher'], env());
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('user "watcher" exists with role admin');
    await expect(stat(path.join(secrets, 'ops-token'))).rejects.toThrow(/ENOENT/);
  });
});
