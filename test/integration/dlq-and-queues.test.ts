import { sql } from 'drizzle-orm';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { afterEach, describe, expect, it } from 'vitest';
import { RetryAfterError } from '../../lib/errors';
import { newId } from '../../lib/ids';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { defineTaskType } from '../../lib/catalog/task-type';
import { holdType } from '../helpers/hold-type';
import { until } from '../helpers/until';
import { testRedis } from '../helpers/redis';
import type { Stack, StackOptions } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { switchType } from '../helpers/recording-type';
import { redisKeys } from '../../lib/queue/keys';

/**
 * Operator-facing state over Redis and PostgreSQL: queue counts, the dead-letter queue (its
 * stream, its listing, bulk replay by ids), the `retrying` status and Retry-After through the
 * worker. Every server these tests talk to listens on 127.0.0.1.
 */
const base: StackOptions = { queue: 'redis', db: 'postgres' };
let stack: Stack | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await stack?.stop();
  stack = undefined;
});

async function submit(s: Stack, body: unknown, token?: string): Promise<TaskView> {
  const res = await s.request('POST', '/v1/tasks', { body, token });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

async function get(s: Stack, id: string): Promise<TaskView> {
  const res = await s.request('GET', `/v1/tasks/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as TaskView;
}

async function events(s: Stack, id: string): Promise<TaskEventView[]> {
  const res = await s.request('GET', `/v1/tasks/${id}/events`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: TaskEventView[] }).items;
}

interface QueueItem {
  name: string;
  length: number;
  pending: number;
  delayed: number;
  dead: number;
  consumers: number;
  paused: boolean;
  pausedAt: string | null;
  oldestAgeSeconds?: number;
}

/** GET /v1/queues alone: for waiting on a count that is still moving. */
async function queueItems(s: Stack, token: string): Promise<QueueItem[]> {
  const res = await s.request('GET', '/v1/queues', { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: QueueItem[] }).items;
}

/**
 * GET /v1/queues, which must answer as GET /v1/system/queues does (the older name): for
 * counts that have settled (the two reads are not one snapshot).
 */
async function queueState(s: Stack, token: string): Promise<QueueItem[]> {
  const [items, older] = await Promise.all([
    queueItems(s, token),
    s.request('GET', '/v1/system/queues', { token }),
  ]);
  const ignoringAge = (list: QueueItem[]) => list.map((q) => ({ ...q, oldestAgeSeconds: undefined }));
  expect(ignoringAge(((await older.json()) as { items: QueueItem[] }).items)).toEqual(ignoringAge(items));
  return items;
}

/** A queue whose oldest waiting task waited this long, or more, and not absurdly long. */
const waited = (atLeast: number) =>
  expect.toSatisfy((n: number) => n >= atLeast && n < 600) as unknown as number;

describe('GET /v1/system/queues', () => {
  it('counts waiting, delivered, delayed and dead tasks and the consumers of each queue, paused ones too', async () => {
    const gate = holdType();
    stack = await startStack({ ...base, worker: false, types: [gate.type] });
    const s = stack;
    const ops = await s.user('ops');
    const dev = await s.user('dev');
    cleanups.push(() => Promise.resolve(gate.open()));
    // One slot: once the gate task holds it, the worker reads nothing more, so every count
    // below stays put while the test looks at it.
    const worker = await s.addWorker('w-queues', { WORKER_CONCURRENCY: '1' });

    // The worker reads both queues once, which registers it as their consumer.
    const warm = await submit(s, { type: 'demo.echo', queue: 'q-paused' });
    await s.waitForStatus(warm.id, ['succeeded']);
    const dead = [
      await submit(s, { type: 'demo.fail', payload: { retryable: false }, queue: 'q-main' }),
      await submit(s, { type: 'demo.fail', payload: { retryable: false }, queue: 'q-main' }),
    ];
    for (const t of dead) await s.waitForStatus(t.id, ['dead']);

    const paused = await s.request('POST', '/v1/queues/q-paused/pause', { token: ops.token });
    expect(paused.status).toBe(200);
    await until('the worker to see the pause', () => worker.pauses.paused().has('q-paused'));

    const held = await submit(s, { type: 'test.hold', queue: 'q-main' });
    await s.waitForStatus(held.id, ['running']);
    expect(gate.started.has(held.id)).toBe(true);

    // Waiting in the streams (two priorities: the counts add up across them).
    const waiting = [
      await submit(s, { type: 'demo.echo', queue: 'q-main' }),
      await submit(s, { type: 'demo.echo', queue: 'q-main', priority: 'high' }),
    ];
    // Waiting for their time.
    const later = [];
    for (let i = 0; i < 3; i++)
      later.push(await submit(s, { type: 'demo.echo', queue: 'q-main', delayMs: 60_000 }));
    later.push(await submit(s, { type: 'demo.echo', queue: 'q-paused', delayMs: 60_000 }));
    // Waiting for the queue to be resumed.
    const blocked = [
      await submit(s, { type: 'demo.echo', queue: 'q-paused' }),
      await submit(s, { type: 'demo.echo', queue: 'q-paused', priority: 'low' }),
    ];
    for (const t of [...waiting, ...blocked]) expect(t.status).toBe('queued');
    for (const t of later) expect(t.status).toBe('scheduled');

    expect((await s.request('GET', '/v1/system/queues', { token: dev.token })).status).toBe(403);
    const pausedAt = expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown as string;
    const before = await queueState(s, ops.token);
    expect(before).toEqual([
      {
        name: 'q-main',
        length: 2,
        pending: 1,
        delayed: 3,
        dead: 2,
        consumers: 1,
        paused: false,
        pausedAt: null,
        oldestAgeSeconds: waited(0),
      },
      {
        name: 'q-paused',
        length: 2,
        pending: 0,
        delayed: 1,
        dead: 0,
        consumers: 1,
        paused: true,
        pausedAt,
        oldestAgeSeconds: waited(0),
      },
    ]);

    // The gate opens: q-main drains, the paused queue keeps its tasks.
    gate.open();
    for (const t of [held, ...waiting]) await s.waitForStatus(t.id, ['succeeded']);
    await until('the last acknowledgement', async () => (await queueItems(s, ops.token))[0]!.pending === 0);
    expect(await queueState(s, ops.token)).toEqual([
      {
        name: 'q-main',
        length: 0,
        pending: 0,
        delayed: 3,
        dead: 2,
        consumers: 1,
        paused: false,
        pausedAt: null,
        oldestAgeSeconds: 0,
      },
      {
        name: 'q-paused',
        length: 2,
        pending: 0,
        delayed: 1,
        dead: 0,
        consumers: 1,
        paused: true,
        pausedAt,
        // Its tasks still wait: their age has not gone down (it grew by the drain's time).
        oldestAgeSeconds: waited(before[1]!.oldestAgeSeconds!),
      },
    ]);
    for (const t of blocked) expect((await get(s, t.id)).status).toBe('queued');

    // A discarded task leaves the dead count; a resume lets the paused queue drain.
    expect((await s.request('DELETE', `/v1/dlq/${dead[0]!.id}`, { token: ops.token })).status).toBe(204);
    expect((await s.request('POST', '/v1/queues/q-paused/resume', { token: ops.token })).status).toBe(200);
    for (const t of blocked) await s.waitForStatus(t.id, ['succeeded']);
    await until('the paused queue to drain', async () => {
      const q = (await queueItems(s, ops.token)).find((x) => x.name === 'q-paused')!;
      return q.length === 0 && q.pending === 0;
    });
    expect(await queueState(s, ops.token)).toEqual([
      {
        name: 'q-main',
        length: 0,
        pending: 0,
        delayed: 3,
        dead: 1,
        consumers: 1,
        paused: false,
        pausedAt: null,
        oldestAgeSeconds: 0,
      },
      {
        name: 'q-paused',
        length: 0,
        pending: 0,
        delayed: 1,
        dead: 0,
        consumers: 1,
        paused: false,
        pausedAt: null,
        oldestAgeSeconds: 0,
      },
    ]);
  });
});

describe('the dead-letter queue', () => {
  it('keeps the original payload and the last error in its stream and in GET /v1/dlq', async () => {
    stack = await startStack({ ...base });
    const s = stack;
    const ops = await s.user('ops');
    const dev = await s.user('dev');
    const payloadA = { message: 'kaboom: "quoted" ✓ \\ and a new\nline', retryable: true };
    const payloadB = { message: 'refused for good', retryable: false };
    const a = await submit(s, { type: 'demo.fail', payload: payloadA, maxAttempts: 2, queue: 'dlq-a' });
    const deadA = await s.waitForStatus(a.id, ['dead']);
    const b = await submit(s, { type: 'demo.fail', payload: payloadB, maxAttempts: 4, queue: 'dlq-b' });
    const deadB = await s.waitForStatus(b.id, ['dead']);
    expect(deadA.attempts).toBe(2);
    expect(deadB.attempts).toBe(1);

    const redis = testRedis();
    const keys = redisKeys(s.config.REDIS_PREFIX);
    // Each queue has its own dead-letter stream (its keys share the queue's hash tag).
    const letters = [
      ...(await redis.xrange(keys.dlq('dlq-a'), '-', '+')),
      ...(await redis.xrange(keys.dlq('dlq-b'), '-', '+')),
    ];
    redis.disconnect();
    const records = letters.map(([id, fields]) => {
      const f: Record<string, unknown> = { id };
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      // The payload and the error are kept as JSON text.
      f.payload = JSON.parse(String(f.payload));
      f.error = JSON.parse(String(f.error));
      return f;
    });
    const entryId: unknown = expect.stringMatching(/^\d+-\d+$/);
    expect(records).toEqual([
      {
        id: entryId,
        task: a.id,
        type: 'demo.fail',
        queue: 'dlq-a',
        payload: payloadA,
        error: { message: payloadA.message, code: 'demo_failure' },
        attempts: '2',
      },
      {
        id: entryId,
        task: b.id,
        type: 'demo.fail',
        queue: 'dlq-b',
        payload: payloadB,
        error: { message: payloadB.message, code: 'demo_failure' },
        attempts: '1',
      },
    ]);

    expect((await s.request('GET', '/v1/dlq', { token: dev.token })).status).toBe(403);
    const list = await s.request('GET', '/v1/dlq', { token: ops.token });
    expect(list.status).toBe(200);
    const items = ((await list.json()) as { items: TaskView[] }).items;
    // Newest first.
    expect(items.map((t) => t.id)).toEqual([b.id, a.id]);
    expect(items[0]).toMatchObject({
      status: 'dead',
      type: 'demo.fail',
      queue: 'dlq-b',
      attempts: 1,
      maxAttempts: 4,
      payload: payloadB,
      lastError: { message: payloadB.message, code: 'demo_failure', retryable: false },
    });
    expect(items[1]).toMatchObject({
      status: 'dead',
      queue: 'dlq-a',
      attempts: 2,
      maxAttempts: 2,
      payload: payloadA,
      lastError: { message: payloadA.message, code: 'demo_failure', retryable: true },
    });
    const onlyA = await s.request('GET', '/v1/dlq?queue=dlq-a', { token: ops.token });
    expect(((await onlyA.json()) as { items: TaskView[] }).items.map((t) => t.id)).toEqual([a.id]);
  });

  it('replays in bulk by ids only the named tasks that are dead, and counts them', async () => {
    const state = { broken: true, runs: new Map<string, number>() };
    stack = await startStack({ ...base, types: [switchType(state)] });
    const s = stack;
    const ops = await s.user('ops');
    const dead: TaskView[] = [];
    for (let i = 0; i < 3; i++) {
      dead.push(await submit(s, { type: 'test.switch', maxAttempts: 1, queue: 'bulk-ids' }));
    }
    for (const t of dead) await s.waitForStatus(t.id, ['dead']);
    const done = await submit(s, { type: 'demo.echo', payload: { n: 1 }, queue: 'bulk-ids' });
    await s.waitForStatus(done.id, ['succeeded']);
    const waiting = await submit(s, { type: 'demo.echo', delayMs: 60_000, queue: 'bulk-ids' });
    const unknown = newId();
    const before = {
      done: await events(s, done.id),
      waiting: await events(s, waiting.id),
    };

    const bad = await s.request('POST', '/v1/dlq/replay', {
      token: ops.token,
      body: { ids: ['not-a-uuid'] },
    });
    expect(bad.status).toBe(422);
    expect((await s.request('POST', '/v1/dlq/replay', { token: ops.token, body: { ids: [] } })).status).toBe(
      422,
    );

    state.broken = false;
    const res = await s.request('POST', '/v1/dlq/replay', {
      token: ops.token,
      body: { ids: [dead[0]!.id, dead[1]!.id, done.id, waiting.id, unknown] },
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { replayed: number }).replayed).toBe(2);
    for (const t of dead.slice(0, 2)) {
      const row = await s.waitForStatus(t.id, ['succeeded']);
      expect(row.attempts).toBe(1);
      expect(row.lastError).toBeNull();
      expect((await events(s, t.id)).map((e) => e.kind)).toEqual([
        'submitted',
        'started',
        'failed',
        'dead_lettered',
        'replayed',
        'started',
        'succeeded',
      ]);
    }
    // The ones named but not dead are untouched; the dead one not named stays dead.
    expect(await get(s, done.id)).toMatchObject({ status: 'succeeded', result: { n: 1 } });
    expect(await get(s, waiting.id)).toMatchObject({ status: 'scheduled' });
    expect(await events(s, done.id)).toEqual(before.done);
    expect(await events(s, waiting.id)).toEqual(before.waiting);
    expect((await s.request('GET', `/v1/tasks/${unknown}`)).status).toBe(404);
    await sleep(300);
    expect(await get(s, dead[2]!.id)).toMatchObject({ status: 'dead', attempts: 1 });
    expect(state.runs.get(dead[2]!.id)).toBe(1);

    // Asking again replays nothing: none of them is dead now.
    const again = await s.request('POST', '/v1/dlq/replay', {
      token: ops.token,
      body: { ids: [dead[0]!.id, dead[1]!.id, done.id] },
    });
    expect(((await again.json()) as { replayed: number }).replayed).toBe(0);
    // ids and a filter together: both must match.
    const wrongType = await s.request('POST', '/v1/dlq/replay', {
      token: ops.token,
      body: { ids: [dead[2]!.id], type: 'demo.fail' },
    });
    expect(((await wrongType.json()) as { replayed: number }).replayed).toBe(0);
    expect((await get(s, dead[2]!.id)).status).toBe('dead');
    const rightQueue = await s.request('POST', '/v1/dlq/replay', {
      token: ops.token,
      body: { ids: [dead[2]!.id], queue: 'bulk-ids' },
    });
    expect(((await rightQueue.json()) as { replayed: number }).replayed).toBe(1);
    await s.waitForStatus(dead[2]!.id, ['succeeded']);
    for (const t of dead) expect(state.runs.get(t.id)).toBe(2);

    const audit = await s.database.rows<{ action: string; actor_id: string; data: { tasks: number } }>(
      sql`SELECT action, actor_id, data FROM audit_log ORDER BY id`,
    );
    expect(audit.map((r) => [r.action, r.actor_id, r.data.tasks])).toEqual([
      ['dlq.replay_bulk', ops.id, 2],
      ['dlq.replay_bulk', ops.id, 1],
    ]);
  });
});

describe('retrying', () => {
  it('shows `retrying` while a task waits for its retry, and cancelling it then means it never runs again', async () => {
    let runs = 0;
    const later = defineTaskType({
      type: 'test.later',
      description: 'test',
      payload: z.strictObject({}),
      execute: () => {
        runs++;
        return Promise.reject(new RetryAfterError('come back later', 2500, 'later'));
      },
    });
    stack = await startStack({ ...base, types: [later] });
    const s = stack;
    const ops = await s.user('ops');
    const task = await submit(s, { type: 'test.later', maxAttempts: 3, queue: 'later' });
    const waiting = await s.waitForStatus(task.id, ['retrying']);
    const seenAt = Date.now();
    expect(waiting).toMatchObject({
      status: 'retrying',
      attempts: 1,
      lastError: { message: 'come back later', code: 'later', retryable: true },
      finishedAt: null,
    });
    const dueIn = Date.parse(waiting.runAt!) - seenAt;
    expect(dueIn).toBeGreaterThan(1500);
    expect(dueIn).toBeLessThanOrEqual(2600);
    expect((await events(s, task.id)).map((e) => [e.kind, e.data])).toEqual([
      ['submitted', expect.anything()],
      ['started', null],
      ['failed', { message: 'come back later', code: 'later', retryable: true }],
      ['retry_scheduled', { delayMs: 2500 }],
    ]);
    // Still retrying a moment later, and counted as delayed in its queue.
    await sleep(300);
    expect((await get(s, task.id)).status).toBe('retrying');
    expect((await queueState(s, ops.token)).find((q) => q.name === 'later')).toMatchObject({
      length: 0,
      pending: 0,
      delayed: 1,
    });

    const res = await s.request('POST', `/v1/tasks/${task.id}/cancel`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as TaskView).status).toBe('cancelled');
    expect((await queueState(s, ops.token)).find((q) => q.name === 'later')).toMatchObject({ delayed: 0 });

    // Well past the time it was due: it never ran again and is still cancelled.
    await sleep(Math.max(0, Date.parse(waiting.runAt!) - Date.now()) + 1500);
    expect(runs).toBe(1);
    const after = await get(s, task.id);
    expect(after).toMatchObject({ status: 'cancelled', attempts: 1 });
    expect(after.finishedAt).not.toBeNull();
    expect((await events(s, task.id)).map((e) => e.kind)).toEqual([
      'submitted',
      'started',
      'failed',
      'retry_scheduled',
      'cancelled',
    ]);
    expect((await s.request('POST', `/v1/tasks/${task.id}/cancel`)).status).toBe(409);
  });
});

interface Received {
  path: string;
  at: number;
  headers: http.IncomingHttpHeaders;
}

/** A server on 127.0.0.1 answering from `handler`, recording every request it gets. */
async function startUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, seen: Received[]) => void,
): Promise<{ url: string; seen: Received[]; close(): Promise<void> }> {
  const seen: Received[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ path: req.url ?? '', at: Date.now(), headers: req.headers });
      handler(req, res, seen);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('http tasks through the worker', () => {
  it('honours an upstream 429 Retry-After instead of the backoff, then succeeds; a 400 is dead after one attempt', async () => {
    const upstream = await startUpstream((req, res, seen) => {
      if (req.url === '/limited') {
        if (seen.filter((r) => r.path === '/limited').length === 1) {
          res.writeHead(429, { 'Retry-After': '2', 'Content-Type': 'text/plain' }).end('slow down');
        } else {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
        }
      } else {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request');
      }
    });
    cleanups.push(() => upstream.close());
    // The backoff alone would wait under 20 ms before a second attempt (RETRY_BASE_MS 20).
    stack = await startStack({ ...base, config: { OUTBOUND_ALLOW_PRIVATE: 'true' } });
    const s = stack;

    const limited = await submit(s, {
      type: 'http',
      payload: { url: `${upstream.url}/limited`, body: { hello: 'world' } },
      maxAttempts: 3,
    });
    const done = await s.waitForStatus(limited.id, ['succeeded'], 10_000);
    expect(done.attempts).toBe(2);
    expect(done.result).toMatchObject({ status: 200, body: { ok: true } });
    const history = await events(s, limited.id);
    expect(history.map((e) => e.kind)).toEqual([
      'submitted',
      'started',
      'failed',
      'retry_scheduled',
      'started',
      'succeeded',
    ]);
    expect(history[2]!.data).toMatchObject({ code: 'http_429', retryable: true });
    expect(history[3]!.data).toEqual({ delayMs: 2000 });
    const calls = upstream.seen.filter((r) => r.path === '/limited');
    expect(calls.map((c) => c.headers['procurator-attempt'])).toEqual(['1', '2']);
    expect(calls.map((c) => c.headers['idempotency-key'])).toEqual([limited.id, limited.id]);
    const gap = calls[1]!.at - calls[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(1950);
    expect(gap).toBeLessThan(3500);

    const bad = await submit(s, { type: 'http', payload: { url: `${upstream.url}/bad` }, maxAttempts: 5 });
    const dead = await s.waitForStatus(bad.id, ['dead'], 10_000);
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toMatchObject({ code: 'http_400', retryable: false });
    expect(dead.lastError!.message).toContain('bad request');
    await sleep(300);
    expect(upstream.seen.filter((r) => r.path === '/bad')).toHaveLength(1);
    expect((await events(s, bad.id)).map((e) => e.kind)).toEqual([
      'submitted',
      'started',
      'failed',
      'dead_lettered',
    ]);
  });
});
