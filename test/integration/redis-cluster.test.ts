import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../lib/queue/keys';
import { RedisQueue } from '../../lib/queue/redis-queue';
import type { TaskView } from '../../lib/tasks/task';
import { callApi, startCluster as startProcesses, waitForTaskStatus } from '../helpers/cluster';
import { defineQueueContract, redisContractBackend } from '../helpers/queue-contract';
import { startRedisCluster } from '../helpers/redis-cluster';
import type { LocalRedisCluster } from '../helpers/redis-cluster';
import { deletePrefix, testPrefix } from '../helpers/redis';
import { startStack } from '../helpers/stack';
import type { Stack } from '../helpers/stack';
import { defineWorkerSuites } from '../helpers/worker-suites';

// A real Redis Cluster of three masters and three replicas on loopback ports, started for this
// file and torn down after it (see "Redis Cluster" in the README).
let cluster: LocalRedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const onCluster = () => cluster.client();

defineQueueContract([redisContractBackend('redis cluster', onCluster)]);
defineWorkerSuites([
  { name: 'Redis Cluster + PostgreSQL', opts: { queue: 'redis', db: 'postgres', redis: onCluster } },
]);

describe('the Redis Cluster layout', () => {
  it('puts the keys of 16 queues on all three masters, each queue whole on one of them', async () => {
    const prefix = testPrefix('spread');
    const redis = onCluster();
    const queue = new RedisQueue(redis, { prefix, openConnection: onCluster });
    try {
      const queues = Array.from({ length: 16 }, (_, i) => `q${i}`);
      await queue.enqueue(
        queues.flatMap((q, i) => [
          { taskId: `now-${i}`, seq: 1, queue: q, priority: 'normal' as const, type: 'demo.echo' },
          {
            taskId: `later-${i}`,
            seq: 1,
            queue: q,
            priority: 'high' as const,
            type: 'demo.echo',
            dueAt: Date.now() + 60_000,
          },
        ]),
      );
      const mastersOf = new Map<string, Set<string>>();
      const pattern = redisKeys(prefix).pattern;
      const tagged = new RegExp(`^\\{${prefix}:(q\\d+)\\}:`);
      for (const node of redis.nodes('master')) {
        const port = String(node.options.port);
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          for (const key of keys) {
            const q = tagged.exec(key)?.[1];
            if (!q) continue;
            mastersOf.set(q, (mastersOf.get(q) ?? new Set()).add(port));
          }
        } while (cursor !== '0');
      }
      expect([...mastersOf.keys()].sort()).toEqual([...queues].sort());
      for (const [, ports] of mastersOf) expect(ports.size).toBe(1);
      expect(new Set([...mastersOf.values()].map((p) => [...p][0])).size).toBe(3);
      // And the work of all of them goes on: every queue delivers its due task.
      const got = await queue.read('c1', 100, 0);
      expect(got.map((m) => m.taskId).sort()).toEqual(queues.map((_, i) => `now-${i}`).sort());
    } finally {
      await queue.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});

describe('fair sharing on the Redis Cluster', () => {
  it('feeds the lanes of two keys in turn, holds a key back at its lane front, all in one slot', async () => {
    const prefix = testPrefix('fair');
    const redis = onCluster();
    const queue = new RedisQueue(redis, { prefix, openConnection: onCluster });
    try {
      const task = (id: string, key: string) => ({
        taskId: id,
        seq: 1,
        queue: 'fair',
        priority: 'normal' as const,
        type: 'demo.echo',
        concurrencyKey: key,
      });
      await queue.enqueue(Array.from({ length: 50 }, (_, i) => task(`a${i}`, 'A')));
      await queue.enqueue(Array.from({ length: 5 }, (_, i) => task(`b${i}`, 'B')));
      const first = await queue.read('c1', 12, 0);
      expect(first.map((m) => m.taskId.slice(0, 1)).join('')).toBe('aababababab' + 'a');
      expect(first[2]!.concurrencyKey).toBe('B');
      expect((await queue.stats())[0]).toMatchObject({ name: 'fair', length: 43, pending: 12 });
      // Held back (a flow limit): b0 waits at the front of B's lane, and comes back first.
      const b0 = first.find((m) => m.taskId === 'b0')!;
      await queue.postpone(b0, (await queue.now()) + 100);
      await sleep(150);
      await queue.promoteDue(10);
      const next = await queue.read('c1', 4, 0);
      expect(next.map((m) => m.taskId)).toContain('b0');
    } finally {
      await queue.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});

describe('serve and worker processes on the Redis Cluster', () => {
  it('run tasks of several queues through REDIS_CLUSTER_NODES, REDIS_URL giving only credentials', async () => {
    const procs = await startProcesses({
      label: 'rc',
      workers: 1,
      env: {
        REDIS_CLUSTER_NODES: cluster.seeds,
        // Nothing listens there: were it used for more than credentials, nothing would run.
        REDIS_URL: 'redis://127.0.0.1:1/0',
        WORKER_METRICS_PORT: '0',
      },
    });
    try {
      const [port] = procs.ports;
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await callApi(port!, procs.token, 'POST', '/v1/tasks', {
          type: 'demo.echo',
          queue: `proc-q${i % 4}`,
          payload: { i },
        });
        expect(res.status).toBe(202);
        ids.push(String(res.body.id));
      }
      for (const id of ids) await waitForTaskStatus(port!, procs.token, id, ['succeeded']);
      const queues = await callApi(port!, procs.token, 'GET', '/v1/queues');
      const names = (queues.body.items as { name: string }[]).map((q) => q.name);
      expect(names).toEqual(expect.arrayContaining(['proc-q0', 'proc-q1', 'proc-q2', 'proc-q3']));
    } finally {
      await procs.stop();
    }
  });
});

describe('a failover under load', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('CLUSTER FAILOVER, then kill -9 of a master: no task lost, no end recorded twice', async () => {
    stack = await startStack({
      queue: 'redis',
      db: 'postgres',
      redis: onCluster,
      config: {
        WORKER_CONCURRENCY: '8',
        CLAIM_IDLE_MS: '2000',
        RECOVERY_INTERVAL_MS: '500',
        RECONCILE_INTERVAL_MS: '1000',
      },
    });
    await stack.addWorker('worker-2');
    const s = stack;
    const accepted: string[] = [];
    let refused = 0;
    let submitting = true;
    const submitter = (async () => {
      for (let round = 0; submitting && round < 400; round++) {
        const tasks = Array.from({ length: 10 }, (_, i) => ({
          type: 'demo.sleep',
          queue: `q${(round + i) % 16}`,
          payload: { ms: 5 },
        }));
        const res = await s.request('POST', '/v1/tasks/batch', { body: { tasks } }).catch(() => null);
        if (res?.status === 202)
          accepted.push(...((await res.json()) as { tasks: TaskView[] }).tasks.map((t) => t.id));
        else refused++;
        await sleep(25);
      }
    })();

    await sleep(1500);
    // A manual failover: a replica takes over its master's slots, the old master follows it.
    const before = await cluster.masters();
    const replicaOf = await replicaPorts(cluster);
    const first = before[0]!;
    const promoted = replicaOf.get(first.id)!;
    await cluster.withNode(promoted, (r) => r.cluster('FAILOVER'));
    await waitFor(async () => (await cluster.masters()).some((m) => m.port === promoted), 15_000);
    await cluster.waitHealthy();
    await sleep(1500);
    // A hard one: a master killed -9; its replica is promoted when the others see it failed.
    const victim = (await cluster.masters()).find((m) => m.port !== promoted)!;
    cluster.kill(victim.port);
    await sleep(500);
    await cluster.waitHealthy(30_000);
    await sleep(1500);
    submitting = false;
    await submitter;
    expect(accepted.length).toBeGreaterThan(200);

    const deadline = Date.now() + 90_000;
    for (;;) {
      const [row] = await s.database.rows<{ open: number }>(
        sql`SELECT count(*)::int AS open FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled')`,
      );
      if (row!.open === 0) break;
      if (Date.now() > deadline) throw new Error(`${row!.open} tasks still open 90 s after the failovers`);
      await sleep(250);
    }
    const statuses = await s.database.rows<{ status: string; n: number }>(
      sql`SELECT status, count(*)::int AS n FROM tasks GROUP BY status`,
    );
    expect(statuses).toEqual([{ status: 'succeeded', n: accepted.length }]);
    const [ends] = await s.database.rows<{ n: number; tasks: number }>(sql`
      SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled')`);
    expect(ends).toEqual({ n: accepted.length, tasks: accepted.length });
    console.log(`failover report: ${JSON.stringify({ accepted: accepted.length, refused })}`);
  });
});

/** For each master's node id, the port of a replica of it. */
async function replicaPorts(c: LocalRedisCluster): Promise<Map<string, number>> {
  const text = await c.withNode(
    c.ports.find((p) => c.alive(p))!,
    (r) => r.cluster('NODES') as Promise<string>,
  );
  const out = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const f = line.split(' ');
    if (f[2]!.includes('slave') && !f[2]!.includes('fail'))
      out.set(f[3]!, Number(f[1]!.split(':')[1]!.split('@')[0]));
  }
  return out;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not so after ${timeoutMs} ms`);
    await sleep(100);
  }
}
