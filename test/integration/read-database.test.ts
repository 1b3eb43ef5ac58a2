import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config';
import type { Database } from '../../lib/db/client';
import type { TaskView } from '../../lib/tasks/task';
import { createTestPostgres } from '../helpers/databases';
import type { TestPostgres } from '../helpers/databases';
import { seedTask } from '../helpers/history';
import { listeningPort, runProcurator, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';

/**
 * DATABASE_READ_URL (README "Beyond one PostgreSQL"): `serve` reads task lists, the DLQ list
 * and the logs from it, and everything else from DATABASE_URL. The "replica" here is a second
 * database holding other rows, so that each answer shows which one it came from.
 */
let primary: TestPostgres;
let replica: TestPostgres;
let replicaDb: Database;
let serve: Proc;
let base: string;
let token: string;
let onlyOnReplica: { task: string; dead: string };

beforeAll(async () => {
  [primary, replica] = await Promise.all([createTestPostgres(), createTestPostgres()]);
  replicaDb = replica.open(2);
  onlyOnReplica = {
    task: await seedTask(replicaDb, { status: 'succeeded', agoMs: 1000 }),
    dead: await seedTask(replicaDb, { status: 'dead', agoMs: 1000 }),
  };
  const env = { DATABASE_URL: primary.url, DATABASE_READ_URL: replica.url };
  const created = await runProcurator(['create-admin', '--name', 'reader', '--json'], env);
  expect(created.code, created.stdout).toBe(0);
  token = (JSON.parse(created.lines.find((l) => l.startsWith('{"'))!) as { token: string }).token;
  serve = spawnProcurator(['serve'], { ...env, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1' });
  base = `http://127.0.0.1:${await listeningPort(serve)}`;
});

afterAll(async () => {
  await serve?.stop();
  await Promise.all([primary?.drop(), replica?.drop()]);
});

const get = async (path: string) => {
  const res = await fetch(`${base}${path}`, { headers: { 'X-API-Token': token } });
  return {
    status: res.status,
    body: (await res.json()) as { items?: { id?: string; taskId?: string; kind?: string }[] },
  };
};

it('serves lists, the DLQ list and the logs from the read database, and a task by id from the primary', async () => {
  expect(serve.lines.some((l) => l.includes('read from DATABASE_READ_URL'))).toBe(true);
  const res = await fetch(`${base}/v1/tasks`, {
    method: 'POST',
    headers: { 'X-API-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'demo.echo', payload: { n: 1 } }),
  });
  expect(res.status).toBe(202);
  const submitted = (await res.json()) as TaskView;

  // Its own write is read back at once from the primary…
  expect((await get(`/v1/tasks/${submitted.id}`)).status).toBe(200);
  // (the in-process worker of the memory queue may have run it already)
  expect((await get(`/v1/tasks/${submitted.id}/events`)).body.items![0]).toMatchObject({ kind: 'submitted' });
  // …while the lists come from the replica, which has not got it (and has rows the primary has not).
  const list = await get('/v1/tasks');
  expect(list.body.items!.map((t) => t.id).sort()).toEqual([onlyOnReplica.task, onlyOnReplica.dead].sort());
  expect((await get('/v1/dlq')).body.items!.map((t) => t.id)).toEqual([onlyOnReplica.dead]);
  const logs = (await get('/v1/logs')).body.items!;
  expect(new Set(logs.map((i) => i.taskId))).toEqual(new Set([onlyOnReplica.task, onlyOnReplica.dead]));
  const [row] = await replicaDb.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`);
  expect(row!.n).toBe(2);
});

it('refuses DATABASE_READ_URL without DATABASE_URL, naming why', () => {
  expect(() => loadConfig({ DATABASE_READ_URL: 'postgres://127.0.0.1/x' })).toThrow(
    /DATABASE_READ_URL needs DATABASE_URL/,
  );
});
