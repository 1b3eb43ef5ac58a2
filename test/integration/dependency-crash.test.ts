import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { callApi, clearPrefix, clusterEnv, createAdminToken, waitForTaskStatus } from '../helpers/cluster';
import { createTestPostgres } from '../helpers/databases';
import type { TestPostgres } from '../helpers/databases';
import { listeningPort, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';
import { testPrefix } from '../helpers/redis';

/**
 * A real worker process (dist/) killed with SIGKILL at `worker.before-release`: the parent's
 * end, and with it the child's release, is committed; the child's enqueue never happens. The
 * database says the child is queued, so another worker's reconciler enqueues it and it runs.
 */
let db: TestPostgres;
let database: Database;
let token: string;
const prefix = testPrefix('deps-crash');
const running: Proc[] = [];

beforeAll(async () => {
  db = await createTestPostgres();
  database = db.open(2);
  token = await createAdminToken({ DATABASE_URL: db.url }, 'deps');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(1000)));
});
afterAll(async () => {
  await clearPrefix(prefix);
  await db?.drop();
});

function start(args: string[], env: Record<string, string>): Proc {
  const p = spawnProcurator(args, env);
  running.push(p);
  return p;
}

it('killed between a parent’s end and its child’s enqueue: the child still runs, once', async () => {
  const env = {
    ...clusterEnv(db.url, prefix),
    WORKER_METRICS_PORT: '0',
    CLAIM_IDLE_MS: '1000',
    RECOVERY_INTERVAL_MS: '250',
    RECONCILE_INTERVAL_MS: '1000',
    WORKER_BLOCK_MS: '250',
  };
  const port = await listeningPort(start(['serve'], env));
  const batch = await callApi(port, token, 'POST', '/v1/tasks/batch', {
    tasks: [
      { type: 'demo.echo', payload: { parent: true } },
      { type: 'demo.echo', payload: { child: true }, dependsOn: ['$0'] },
    ],
  });
  expect(batch.status).toBe(202);
  const [parent, child] = (batch.body as unknown as { tasks: TaskView[] }).tasks;
  expect(child!.status).toBe('waiting');

  const dying = start(['worker'], {
    ...env,
    WORKER_ID: 'dies-before-release',
    FAILPOINTS: 'worker.before-release',
  });
  expect((await dying.exited).signal).toBe('SIGKILL');
  const [row] = await database.rows<{ status: string }>(
    sql`SELECT status FROM tasks WHERE id = ${child!.id}::uuid`,
  );
  expect(row!.status).toBe('queued'); // released in the database, never enqueued
  expect((await waitForTaskStatus(port, token, parent!.id, ['succeeded'])).attempts).toBe(1);

  const survivor = start(['worker'], { ...env, WORKER_ID: 'reconciles' });
  await survivor.waitFor((l) => l.includes('worker metrics listening'));
  const done = await waitForTaskStatus(port, token, child!.id, ['succeeded'], 20_000);
  expect(done.result).toEqual({ child: true });
  const events = (await callApi(port, token, 'GET', `/v1/tasks/${child!.id}/events`)).body as unknown as {
    items: TaskEventView[];
  };
  expect(events.items.map((e) => e.kind)).toEqual(['submitted', 'dependencies_met', 'started', 'succeeded']);
  expect(survivor.lines.some((l) => l.includes('enqueued tasks the queue had lost'))).toBe(true);
});
