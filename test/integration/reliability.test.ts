import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import type { SwitchState } from '../helpers/recording-type';
import { ExecutionLog, recordingType, switchType, totalRuns } from '../helpers/recording-type';
import { deletePrefix, testRedis } from '../helpers/redis';
import type { Stack, StackOptions } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { redisKeys } from '../../lib/queue/keys';

const base: StackOptions = { queue: 'redis', db: 'postgres' };
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function submit(s: Stack, body: unknown): Promise<TaskView> {
  const res = await s.request('POST', '/v1/tasks', { body });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

async function events(s: Stack, id: string): Promise<TaskEventView[]> {
  return ((await (await s.request('GET', `/v1/tasks/${id}/events`)).json()) as { items: TaskEventView[] })
    .items;
}

describe('retries and the dead-letter queue', () => {
  it('retries with backoff inside its jitter band, dies after maxAttempts, and can be replayed once', async () => {
    const state: SwitchState = { broken: true, runs: new Map() };
    stack = await startStack({
      ...base,
      config: { RETRY_BASE_MS: '50', RETRY_MAX_MS: '1000' },
      types: [switchType(state)],
    });
    const task = await submit(stack, { type: 'test.switch', maxAttempts: 3 });
    const dead = await stack.waitForStatus(task.id, ['dead']);
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toMatchObject({ message: 'still broken', code: 'broken', retryable: true });

    const history = await events(stack, task.id);
    const delays = history
      .filter((e) => e.kind === 'retry_scheduled')
      .map((e) => (e.data as { delayMs: number }).delayMs);
    expect(delays).toHaveLength(2);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(50 * 2 ** i); // full jitter: [0, base·2^(attempt-1))
    });
    const startedAt = history.filter((e) => e.kind === 'started').map((e) => Date.parse(e.at));
    const failedAt = history.filter((e) => e.kind === 'failed').map((e) => Date.parse(e.at));
    // Never early: each retry starts no sooner than its delay after the failure (ms clock rounding aside).
    expect(startedAt[1]! - failedAt[0]!).toBeGreaterThanOrEqual(delays[0]! - 2);
    expect(startedAt[2]! - failedAt[1]!).toBeGreaterThanOrEqual(delays[1]! - 2);

    const dlq = (await (await stack.request('GET', '/v1/dlq?type=test.switch')).json()) as {
      items: TaskView[];
    };
    expect(dlq.items.map((t) => t.id)).toEqual([task.id]);
    expect(dlq.items[0]!.lastError?.message).toBe('still broken');
    const redis = testRedis();
    const letters = await redis.xrange(redisKeys(stack.config.REDIS_PREFIX).dlq('default'), '-', '+');
    redis.disconnect();
    expect(letters.some(([, fields]) => fields.includes(task.id))).toBe(true);

    state.broken = false;
    const runsBefore = totalRuns(state);
    const [a, b] = await Promise.all([
      stack.request('POST', `/v1/dlq/${task.id}/replay`),
      stack.request('POST', `/v1/dlq/${task.id}/replay`),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 404]);
    const replayed = await stack.waitForStatus(task.id, ['succeeded']);
    expect(replayed.attempts).toBe(1);
    await sleep(300);
    expect(totalRuns(state) - runsBefore).toBe(1);
    const audit = await stack.database.rows<{ action: string; target: string; actor_id: string }>(
      sql`SELECT action, target, actor_id FROM audit_log WHERE action LIKE 'dlq.%'`,
    );
    expect(audit).toEqual([
      { action: 'dlq.replay', target: task.id, actor_id: expect.any(String) as string },
    ]);
    const ends = (await events(stack, task.id)).filter((e) =>
      ['succeeded', 'dead_lettered'].includes(e.kind),
    );
    expect(ends.map((e) => e.kind)).toEqual(['dead_lettered', 'succeeded']);
  });

  it('replays in bulk by filter, deletes from the DLQ, and refuses an empty filter', async () => {
    stack = await startStack({ ...base });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await submit(stack, { type: 'demo.fail', payload: { retryable: false }, queue: 'bulk' })).id);
    }
    for (const id of ids) await stack.waitForStatus(id, ['dead']);
    const ops = await stack.user('ops');
    const dev = await stack.user('dev');
    expect(
      (await stack.request('POST', '/v1/dlq/replay', { token: dev.token, body: { queue: 'bulk' } })).status,
    ).toBe(403);
    expect((await stack.request('POST', '/v1/dlq/replay', { token: ops.token, body: {} })).status).toBe(422);
    const del = await stack.request('DELETE', `/v1/dlq/${ids[0]}`, { token: ops.token });
    expect(del.status).toBe(204);
    expect((await stack.request('DELETE', `/v1/dlq/${ids[0]}`, { token: ops.token })).status).toBe(404);
    const res = await stack.request('POST', '/v1/dlq/replay', { token: ops.token, body: { queue: 'bulk' } });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { replayed: number }).replayed).toBe(2);
    // demo.fail fails again: the replayed tasks run once more and die again.
    for (const id of ids.slice(1)) {
      await stack.waitForStatus(id, ['dead']);
      const kinds = (await events(stack, id)).map((e) => e.kind);
      expect(kinds.filter((k) => k === 'started')).toHaveLength(2);
      expect(kinds.filter((k) => k === 'replayed')).toHaveLength(1);
    }
    expect((await stack.waitForStatus(ids[0]!, ['discarded'])).status).toBe('discarded');
    const actions = await stack.database.rows<{ action: string }>(
      sql`SELECT action FROM audit_log ORDER BY id`,
    );
    expect(actions.map((a) => a.action)).toEqual(['dlq.delete', 'dlq.replay_bulk']);
  });
});

describe('time', () => {
  it('never starts a delayed task before it is due, and starts it soon after', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...base, types: [recordingType(log)] });
    const runAt = new Date(Date.now() + 1500);
    const delayed = await submit(stack, { type: 'test.record', delayMs: 1200 });
    const scheduled = await submit(stack, { type: 'test.record', runAt: runAt.toISOString() });
    expect(delayed.status).toBe('scheduled');
    expect(scheduled.runAt).toBe(runAt.toISOString());
    for (const t of [delayed, scheduled]) await stack.waitForStatus(t.id, ['succeeded'], 5000);
    for (const t of [delayed, scheduled]) {
      const row = await stack.waitForStatus(t.id, ['succeeded']);
      const due = Date.parse(row.runAt!);
      const started = log.starts.find((s) => s.taskId === t.id)!.at;
      expect(started).toBeGreaterThanOrEqual(due);
      expect(started - due).toBeLessThan(1000);
    }
  });

  it('never starts early on a worker whose own clock runs an hour ahead', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...base, types: [recordingType(log)] });
    const realNow = Date.now.bind(Date);
    const skew = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
    try {
      const task = await submit(stack, { type: 'test.record', delayMs: 1000 });
      const done = await stack.waitForStatus(task.id, ['succeeded'], 5000);
      // Both times from the database's clock: the start is not before the due time.
      expect(Date.parse(done.startedAt!)).toBeGreaterThanOrEqual(Date.parse(done.runAt!));
      expect(Date.parse(done.startedAt!) - Date.parse(done.runAt!)).toBeLessThan(1000);
    } finally {
      skew.mockRestore();
    }
  });

  it('enforces timeoutMs per attempt with the signal, as a retryable failure', async () => {
    stack = await startStack({ ...base });
    const started = Date.now();
    const task = await submit(stack, {
      type: 'demo.sleep',
      payload: { ms: 10_000 },
      timeoutMs: 300,
      maxAttempts: 2,
    });
    const dead = await stack.waitForStatus(task.id, ['dead']);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(dead.attempts).toBe(2);
    expect(dead.lastError).toMatchObject({ code: 'timeout', retryable: true });
  });

  it('starts higher priorities first under a backlog', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...base, worker: false, types: [recordingType(log)] });
    const batch = (priority: string) =>
      stack!.request('POST', '/v1/tasks/batch', {
        body: { tasks: Array.from({ length: 20 }, () => ({ type: 'test.record', priority })) },
      });
    const low = (await (await batch('low')).json()) as { tasks: TaskView[] };
    const normal = (await (await batch('normal')).json()) as { tasks: TaskView[] };
    const high = (await (await batch('high')).json()) as { tasks: TaskView[] };
    await stack.addWorker('w', { WORKER_CONCURRENCY: '1' });
    const all = [...low.tasks, ...normal.tasks, ...high.tasks];
    for (const t of all) await stack.waitForStatus(t.id, ['succeeded']);
    const rank = new Map([
      ...high.tasks.map((t) => [t.id, 0] as const),
      ...normal.tasks.map((t) => [t.id, 1] as const),
      ...low.tasks.map((t) => [t.id, 2] as const),
    ]);
    const order = log.starts.map((s) => rank.get(s.taskId)!);
    expect(order).toEqual([...order].sort());
  });
});

describe('cancellation', () => {
  it('cancels scheduled, queued and running tasks, and refuses a finished one', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...base, worker: false, types: [recordingType(log)] });
    const scheduled = await submit(stack, { type: 'test.record', delayMs: 60_000 });
    const queued = await submit(stack, { type: 'test.record' });
    for (const t of [scheduled, queued]) {
      const res = await stack.request('POST', `/v1/tasks/${t.id}/cancel`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as TaskView).status).toBe('cancelled');
    }
    await stack.addWorker('w1');
    await stack.addWorker('w2');
    const running = await submit(stack, { type: 'test.record', payload: { ms: 20_000 } });
    await stack.waitForStatus(running.id, ['running']);
    const res = await stack.request('POST', `/v1/tasks/${running.id}/cancel`);
    expect(res.status).toBe(202);
    const cancelled = await stack.waitForStatus(running.id, ['cancelled'], 3000);
    expect(cancelled.finishedAt).not.toBeNull();
    expect((await stack.request('POST', `/v1/tasks/${running.id}/cancel`)).status).toBe(409);
    const done = await submit(stack, { type: 'test.record' });
    await stack.waitForStatus(done.id, ['succeeded']);
    expect((await stack.request('POST', `/v1/tasks/${done.id}/cancel`)).status).toBe(409);
    // The cancelled waiting tasks never started.
    expect(log.startsOf(scheduled.id) + log.startsOf(queued.id)).toBe(0);
    const kinds = (await events(stack, running.id)).map((e) => e.kind);
    expect(kinds).toEqual(['submitted', 'started', 'cancelled']);
  });

  it('stops a running task whose cancel broadcast was missed, through the heartbeat', async () => {
    stack = await startStack({ ...base, config: { CLAIM_IDLE_MS: '600' } });
    const task = await submit(stack, { type: 'demo.sleep', payload: { ms: 20_000 } });
    await stack.waitForStatus(task.id, ['running']);
    // Ask for cancellation in the database only, as if the pub/sub message were lost.
    await stack.services.tasks.cancel(task.id, 'test');
    const done = await stack.waitForStatus(task.id, ['cancelled'], 3000);
    expect(done.status).toBe('cancelled');
  });
});

describe('losing Redis', () => {
  it('runs every task after the queue loses all its keys (FLUSHALL of our prefix)', async () => {
    stack = await startStack({ ...base, worker: false, config: { RECONCILE_INTERVAL_MS: '300' } });
    const now = await stack.request('POST', '/v1/tasks/batch', {
      body: { tasks: Array.from({ length: 100 }, (_, i) => ({ type: 'demo.echo', payload: { i } })) },
    });
    const later = await stack.request('POST', '/v1/tasks/batch', {
      body: {
        tasks: Array.from({ length: 100 }, (_, i) => ({ type: 'demo.echo', payload: { i }, delayMs: 800 })),
      },
    });
    const ids = [
      ...((await now.json()) as { tasks: TaskView[] }).tasks,
      ...((await later.json()) as { tasks: TaskView[] }).tasks,
    ].map((t) => t.id);
    // Everything of ours in Redis is gone: streams, groups, the delayed set, the index.
    const redis = testRedis();
    await deletePrefix(redis, stack.config.REDIS_PREFIX);
    expect(await redis.keys(redisKeys(stack.config.REDIS_PREFIX).pattern)).toEqual([]);
    redis.disconnect();
    await stack.addWorker('after-flush');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await stack.database.rows<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'succeeded'`,
      );
      if (row!.n === ids.length) break;
      if (Date.now() > deadline) throw new Error(`only ${row!.n} of ${ids.length} succeeded`);
      await sleep(100);
    }
    const ends = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM task_events WHERE kind = 'succeeded'`,
    );
    expect(ends[0]!.n).toBe(200);
  });
});

describe('graceful shutdown', () => {
  it('abandons a task longer than the grace period unacknowledged; another worker completes it', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...base,
      worker: false,
      config: { CLAIM_IDLE_MS: '500', RECOVERY_INTERVAL_MS: '100' },
      types: [recordingType(log)],
    });
    const first = await stack.addWorker('leaving', { SHUTDOWN_GRACE_MS: '200' });
    const task = await submit(stack, { type: 'test.record', payload: { ms: 1500 } });
    await stack.waitForStatus(task.id, ['running']);
    const stopped = Date.now();
    await first.stop();
    expect(Date.now() - stopped).toBeLessThan(1500);
    expect((await stack.waitForStatus(task.id, ['running'])).status).toBe('running');
    await stack.addWorker('staying');
    const done = await stack.waitForStatus(task.id, ['succeeded'], 10_000);
    expect(done.attempts).toBe(2);
    const history = await events(stack, task.id);
    expect(history.filter((e) => e.kind === 'started').map((e) => e.workerId)).toEqual([
      'leaving',
      'staying',
    ]);
    expect(history.filter((e) => e.kind === 'succeeded').map((e) => e.workerId)).toEqual(['staying']);
    expect(history.some((e) => e.kind === 'recovered')).toBe(true);
  });
});
