import { sql } from 'drizzle-orm';
import { afterAll, afterEach, expect, it, vi } from 'vitest';
import { Lease } from '../../lib/leadership/lease';
import { silentLogger } from '../../lib/logger';
import { redisKeys } from '../../lib/queue/keys';
import { RetentionStore } from '../../lib/retention/retention-store';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import type { TaskView } from '../../lib/tasks/task';
import { Reconciler } from '../../worker/reconciler';
import { ageTask } from '../helpers/history';
import { deletePrefix, testRedis } from '../helpers/redis';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

/**
 * Retention, dead-letter records and the one-at-a-time leaders on the real Redis and
 * PostgreSQL: what the unit tests show on PGlite and the memory queue, with real concurrency.
 */
let stack: Stack | undefined;
const redis = testRedis();
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(() => redis.disconnect());

const DAY = 86_400_000;

/** The task ids the dead-letter stream of the queue `default` holds records of. */
async function deadLetterTaskIds(prefix: string): Promise<string[]> {
  const entries = await redis.xrange(redisKeys(prefix).dlq('default'), '-', '+');
  return entries.map(([, fields]) => fields[fields.indexOf('task') + 1]!).sort();
}

it('a dead-letter record goes when its task is replayed, discarded or pruned', async () => {
  stack = await startStack({
    queue: 'redis',
    db: 'postgres',
    // One pruner pass at start, then the test drives it.
    config: { RETENTION_DEAD_MS: String(DAY), PRUNE_INTERVAL_MS: '3600000' },
  });
  const prefix = stack.config.REDIS_PREFIX;
  const dead: TaskView[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.fail', payload: { message: `no ${i}`, retryable: false } },
    });
    const task = (await res.json()) as TaskView;
    dead.push(await stack.waitForStatus(task.id, ['dead']));
  }
  const [replayed, discarded, pruned, kept] = dead.map((t) => t.id) as [string, string, string, string];
  expect(await deadLetterTaskIds(prefix)).toEqual([...dead.map((t) => t.id)].sort());

  // Stopped, so that the replayed task does not die again (a new record) before the check.
  await stack.worker!.stop();
  expect((await stack.request('POST', `/v1/dlq/${replayed}/replay`)).status).toBe(202);
  expect((await stack.request('DELETE', `/v1/dlq/${discarded}`)).status).toBe(204);
  expect(await deadLetterTaskIds(prefix)).toEqual([pruned, kept].sort());

  await ageTask(stack.database, pruned, 2 * DAY);
  // A worker's first pruner pass runs as it starts, and finds the task past its retention.
  await stack.addWorker('worker-2', { RETENTION_DEAD_MS: String(DAY), PRUNE_INTERVAL_MS: '3600000' });
  await vi.waitFor(async () => expect((await stack!.request('GET', `/v1/tasks/${pruned}`)).status).toBe(404));
  // The replayed task runs on worker-2 and dies again: one record, the newest.
  await stack.waitForStatus(replayed, ['dead']);
  expect(await deadLetterTaskIds(prefix)).toEqual([kept, replayed].sort());
  // The task id → record id map keeps only the records left.
  expect((await redis.hkeys(redisKeys(prefix).dlqEntries('default'))).sort()).toEqual(
    [kept, replayed].sort(),
  );
});

it('after losing every Redis key, one reconciler pass queues 1,500 tasks again in batches', async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
  const prefix = stack.config.REDIS_PREFIX;
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const batch = Array.from({ length: 500 }, (_, j) => ({ type: 'demo.echo', payload: { i, j } }));
    ids.push(...(await submitBatch(stack, batch)).map((t) => t.id));
  }
  await deletePrefix(redis, prefix); // the test's own FLUSHALL
  let enqueues = 0;
  const queue = stack.queue;
  const counting = Object.create(queue) as typeof queue;
  counting.enqueue = (entries) => {
    enqueues++;
    return queue.enqueue(entries);
  };
  const reconciler = new Reconciler({
    queue: counting,
    store: new AttemptStore(stack.database),
    lease: new Lease(stack.database, { name: 'reconciler', holder: 'r1', ttlMs: 60_000 }),
    logger: silentLogger(),
    intervalMs: 60_000,
    graceMs: 0,
  });
  expect(await reconciler.tick()).toBe(1500);
  expect(enqueues).toBe(2); // pages of 1,000
  const held = await queue.lookup(ids.map((taskId) => ({ taskId, queue: 'default' })));
  expect(held.size).toBe(1500);
  expect(await redis.xlen(redisKeys(prefix).stream('default', 'normal'))).toBe(1500);
  expect(await reconciler.tick()).toBe(0);
  await reconciler.stop();
});

it('of two workers, one holds each lease; many takers at once get one lease', async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', config: { PRUNE_INTERVAL_MS: '3600000' } });
  // worker-1's first passes (they run just after it starts) take both leases.
  await vi.waitFor(async () => expect(await stack!.database.rows(sql`SELECT 1 FROM leases`)).toHaveLength(2));
  const second = await stack.addWorker('worker-2', { PRUNE_INTERVAL_MS: '3600000' });
  const holders = await stack.database.rows<{ name: string; holder: string }>(
    sql`SELECT name, holder FROM leases ORDER BY name`,
  );
  expect(holders).toEqual([
    { name: 'pruner', holder: 'worker-1' },
    { name: 'reconciler', holder: 'worker-1' },
  ]);
  expect(await second.pruner.tick()).toEqual({
    tasks: 0,
    task_events: 0,
    callback_deliveries: 0,
    task_dependencies: 0,
    audit_log: 0,
  });
  expect(await second.reconciler.tick()).toBe(0);

  const takers = Array.from(
    { length: 20 },
    (_, i) => new Lease(stack!.database, { name: 'race', holder: `h${i}`, ttlMs: 60_000 }),
  );
  const got = await Promise.all(takers.map((l) => l.acquire()));
  expect(got.filter(Boolean)).toHaveLength(1);

  // A stopping worker gives its leases up; the other takes them at its next tick.
  await stack.worker!.stop();
  await second.pruner.tick();
  await second.reconciler.tick();
  const after = await stack.database.rows<{ holder: string }>(
    sql`SELECT DISTINCT holder FROM leases WHERE name <> 'race'`,
  );
  expect(after).toEqual([{ holder: 'worker-2' }]);
});

it('concurrent repeats of an expired Idempotency-Key make exactly one new task', async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
  const body = { type: 'demo.echo', payload: { n: 1 } };
  const post = () => stack!.request('POST', '/v1/tasks', { body, headers: { 'Idempotency-Key': 'k' } });
  const first = (await (await post()).json()) as TaskView;
  await ageTask(stack.database, first.id, DAY + 60_000);
  const answers = await Promise.all(Array.from({ length: 30 }, post));
  const statuses = answers.map((r) => r.status);
  expect([statuses.filter((s) => s === 202).length, statuses.filter((s) => s === 200).length]).toEqual([
    1, 29,
  ]);
  const tasks = (await Promise.all(answers.map((r) => r.json()))) as TaskView[];
  expect(new Set(tasks.map((t) => t.id)).size).toBe(1);
  expect(tasks[0]!.id).not.toBe(first.id);
});

it('on PostgreSQL, the pruner vacuums itself exactly when autovacuum is off, and its VACUUM runs', async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
  const store = new RetentionStore(stack.database);
  const [setting] = await stack.database.rows<{ autovacuum: string; track_counts: string }>(
    sql`SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts`,
  );
  expect(await store.autovacuumRuns()).toBe(setting!.autovacuum === 'on' && setting!.track_counts === 'on');
  await store.vacuum(['tasks', 'task_events']);
  // VACUUM reports itself to the statistics at once (the counts of other statements may lag).
  const stats = await stack.database.rows<{ relname: string; n: number }>(
    sql`SELECT relname, vacuum_count::int AS n FROM pg_stat_user_tables
        WHERE relname IN ('tasks', 'task_events', 'audit_log') ORDER BY relname`,
  );
  expect(stats).toEqual([
    { relname: 'audit_log', n: 0 },
    { relname: 'task_events', n: 1 },
    { relname: 'tasks', n: 1 },
  ]);
});
