import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { redisKeys } from '../../lib/queue/keys';
import { CONSUMER_GROUP } from '../../lib/queue/queue-backend';
import { PRIORITIES } from '../../lib/tasks/task';
import type { TaskView } from '../../lib/tasks/task';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { blockedInRead, groupNames, pendingEntries, streamKey } from '../helpers/queue-probe';
import { testRedis } from '../helpers/redis';

/**
 * Redis loses everything of ours (a FLUSHALL, or a restart without persistence) while
 * worker processes run. The real FLUSHALL would wipe the shared server other tests use, so
 * this deletes every key under the test's own prefix, in one DEL: the same loss for us.
 */
let cluster: Cluster;
let database: Database;
let redis: Redis;
let port: number;

beforeAll(async () => {
  cluster = await startCluster({
    label: 'flush',
    workers: 2,
    env: {
      WORKER_METRICS_PORT: '0',
      WORKER_CONCURRENCY: '4',
      // Long blocking reads: an idle worker spends nearly all its time inside XREADGROUP.
      WORKER_BLOCK_MS: '5000',
      CLAIM_IDLE_MS: '1500',
      RECOVERY_INTERVAL_MS: '250',
      RECONCILE_INTERVAL_MS: '500',
      RETRY_BASE_MS: '50',
      RETRY_MAX_MS: '500',
      SHUTDOWN_GRACE_MS: '2000',
    },
  });
  port = cluster.ports[0]!;
  database = cluster.db.open(4);
  redis = testRedis();
});

afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

const api = (method: string, path: string, body?: unknown) =>
  callApi(port, cluster.token, method, path, body);

/** Every key under the test's prefix, deleted by one DEL (atomic, like FLUSHALL). */
async function flushOurKeys(): Promise<number> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', redisKeys(cluster.prefix).pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys.length > 0 ? redis.del(...keys) : 0;
}

async function until(what: string, test: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await test())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(25);
  }
  return Date.now() - started;
}

const workerPids = () => cluster.workers.map((w) => w.child.pid!);
const allBlocked = async () =>
  (await Promise.all(workerPids().map((pid) => blockedInRead(redis, pid)))).every(Boolean);
const groupsBack = async () =>
  (
    await Promise.all(PRIORITIES.map((p) => groupNames(redis, streamKey(cluster.prefix, 'default', p))))
  ).every((names) => names.includes(CONSUMER_GROUP));

describe('Redis loses all our keys while workers run', () => {
  it('a worker blocked in XREADGROUP recreates the lost group (NOGROUP) and keeps taking work', async () => {
    // One task so that the workers know the queue and block reading its streams.
    const first = await api('POST', '/v1/tasks', { type: 'demo.echo', payload: { n: 0 } });
    await waitForTaskStatus(port, cluster.token, String(first.body.id), ['succeeded']);
    await until('both workers blocked in XREADGROUP', allBlocked, 10_000);

    expect(await flushOurKeys()).toBeGreaterThan(0);
    // No task is submitted, none is waiting or due: only a reader that met NOGROUP creates
    // the group again (on every stream of the queue it reads).
    const recreatedMs = await until('consumer group recreated', groupsBack, 5000);
    await until('both workers blocked in XREADGROUP again', allBlocked, 10_000);
    const submittedAt = Date.now();
    const next = await api('POST', '/v1/tasks', { type: 'demo.echo', payload: { n: 1 } });
    const done = await waitForTaskStatus(port, cluster.token, String(next.body.id), ['succeeded'], 5000);
    expect(done.result).toEqual({ n: 1 });
    // Delivered by the blocked read itself, not on a later timeout or repair pass.
    expect(Date.now() - submittedAt).toBeLessThan(2000);
    console.log(`redis loss (idle): group recreated ${recreatedMs} ms after the flush`);
  });

  it('200 queued and scheduled tasks all succeed once each after a flush under load', async () => {
    const queued = await api('POST', '/v1/tasks/batch', {
      tasks: Array.from({ length: 100 }, (_, i) => ({
        type: 'demo.sleep',
        payload: { ms: 50 + (i % 5) * 25 },
      })),
    });
    const scheduled = await api('POST', '/v1/tasks/batch', {
      tasks: Array.from({ length: 100 }, (_, i) => ({ type: 'demo.echo', payload: { i }, delayMs: 2500 })),
    });
    expect([queued.status, scheduled.status]).toEqual([202, 202]);
    const queuedIds = (queued.body as unknown as { tasks: TaskView[] }).tasks.map((t) => t.id);
    const scheduledIds = (scheduled.body as unknown as { tasks: TaskView[] }).tasks.map((t) => t.id);
    const ids = [...queuedIds, ...scheduledIds];
    const idList = JSON.stringify(ids);
    const counts = async () => {
      const rows = await database.rows<{ status: string; n: number }>(sql`
        SELECT status, count(*)::int AS n FROM tasks
        WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList}::jsonb)) GROUP BY status`);
      return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
    };
    // Flush mid-flight: some done, some running, the rest queued, all 100 delayed still waiting.
    await until('the workers are under way', async () => ((await counts()).succeeded ?? 0) >= 10, 10_000);
    const atFlush = await counts();
    expect(atFlush.queued ?? 0).toBeGreaterThan(0);
    expect(atFlush.scheduled).toBe(100);
    const flushedAt = Date.now();
    expect(await flushOurKeys()).toBeGreaterThan(0);

    await until('all 200 succeeded', async () => (await counts()).succeeded === 200, 30_000);
    const tookMs = Date.now() - flushedAt;
    const [ends] = await database.rows<{ n: number; tasks: number }>(sql`
      SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled')
        AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList}::jsonb))`);
    expect(ends).toEqual({ n: 200, tasks: 200 });
    // The repaired delayed tasks still waited for their time (by the database's clock).
    const [early] = await database.rows<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM tasks
      WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(scheduledIds)}::jsonb))
        AND started_at < run_at`);
    expect(early!.n).toBe(0);
    const [starts] = await database.rows<{ extra: number }>(sql`
      SELECT (count(*) - count(DISTINCT task_id))::int AS extra FROM task_events
      WHERE kind = 'started' AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${idList}::jsonb))`);
    // Nothing of ours is left pending, nothing runs on an expired lease.
    await sleep(300);
    expect(await pendingEntries(cluster.prefix)).toEqual([]);
    const [stale] = await database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`,
    );
    expect(stale!.n).toBe(0);
    console.log(
      `redis loss (load): ${JSON.stringify({ atFlush, recoveredInMs: tookMs, extraStarts: starts!.extra })}`,
    );
  });
});
