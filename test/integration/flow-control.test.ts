import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { holdType } from '../helpers/hold-type';
import { ExecutionLog, maxOverlap, recordingType } from '../helpers/recording-type';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack, submitBatch } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe.each(STACK_VARIANTS)('flow limits on $name', ({ opts }) => {
  it('never runs more than a type’s concurrency limit across workers; the rest wait without spending attempts', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...opts,
      worker: false,
      config: {
        FLOW_LIMITS: JSON.stringify({ 'type:test.record': { concurrency: 2 } }),
        WORKER_CONCURRENCY: '2',
      },
      types: [recordingType(log)],
    });
    await stack.addWorker('w1');
    await stack.addWorker('w2');
    const tasks = await submitBatch(
      stack,
      Array.from({ length: 12 }, () => ({ type: 'test.record', payload: { ms: 150 } })),
    );
    for (const t of tasks) {
      const done = await stack.waitForStatus(t.id, ['succeeded'], 30_000);
      expect(done.attempts).toBe(1);
    }
    expect(log.starts).toHaveLength(12);
    expect(maxOverlap(log)).toBe(2);
    expect(log.maxRunning).toBe(2);
  });

  it('a task held back by a full concurrency limit starts as soon as the slot frees, across workers, keyed or not', async () => {
    const log = new ExecutionLog();
    const hold = holdType();
    stack = await startStack({
      ...opts,
      worker: false,
      config: { FLOW_LIMITS: JSON.stringify({ 'queue:one': { concurrency: 1 } }) },
      types: [recordingType(log), hold.type],
    });
    await stack.addWorker('w1');
    await stack.addWorker('w2');
    for (const concurrencyKey of [undefined, 'tenant']) {
      const [first] = await submitBatch(stack, [{ type: 'test.hold', queue: 'one' }]);
      while (!hold.started.has(first!.id)) await new Promise((r) => setTimeout(r, 5));
      // Refused while the first runs, the second would look again only 500–750 ms later. The
      // first is let go once the second waits (postponed): a slot freed before that would
      // wake nothing, which only that later look repairs.
      const s = stack;
      const limited = new Promise<void>((resolve) => {
        const off = s.events.on('flow_limited', () => {
          off();
          resolve();
        });
      });
      const [second] = await submitBatch(stack, [
        { type: 'test.record', queue: 'one', concurrencyKey, payload: { ms: 0 } },
      ]);
      await limited;
      hold.letGo(first!.id);
      await stack.waitForStatus(second!.id, ['succeeded'], 10_000);
      const firstEnd = hold.ends.get(first!.id)!;
      const secondStart = log.starts.find((st) => st.taskId === second!.id)!.at;
      expect(secondStart).toBeGreaterThanOrEqual(firstEnd);
      expect(secondStart - firstEnd).toBeLessThan(300);
    }
  });

  it('starts no more than a queue’s rate allows', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...opts,
      config: {
        FLOW_LIMITS: JSON.stringify({ 'queue:partner-api': { ratePerSecond: 10, burst: 2 } }),
        WORKER_CONCURRENCY: '8',
      },
      types: [recordingType(log)],
    });
    const tasks = await submitBatch(
      stack,
      Array.from({ length: 15 }, () => ({ type: 'test.record', queue: 'partner-api' })),
    );
    const free = await submitBatch(stack, [{ type: 'test.record', queue: 'elsewhere' }]);
    for (const t of [...tasks, ...free]) await stack.waitForStatus(t.id, ['succeeded'], 30_000);
    const limited = log.starts.filter((s) => tasks.some((t) => t.id === s.taskId)).map((s) => s.at);
    limited.sort((a, b) => a - b);
    // A burst of 2, then 10 a second: 13 more starts need at least 1.3 s.
    expect(limited.at(-1)! - limited[0]!).toBeGreaterThanOrEqual(1200);
    // In any one-second window: at most the burst plus one second of refill (and one of slack).
    for (let i = 0; i < limited.length; i++) {
      const inWindow = limited.filter((t) => t >= limited[i]! && t < limited[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(13);
    }
  });

  it('a paused queue starts nothing until resumed, and loses nothing', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...opts, types: [recordingType(log)] });
    const ops = await stack.user('ops');
    const dev = await stack.user('dev');
    expect((await stack.request('POST', '/v1/queues/held/pause', { token: dev.token })).status).toBe(403);
    const paused = await stack.request('POST', '/v1/queues/held/pause', { token: ops.token });
    expect(await paused.json()).toMatchObject({ name: 'held', paused: true });
    const worker = stack.worker!;
    await until('the worker to see the pause', () => worker.pauses.paused().has('held'));
    const held = await submitBatch(
      stack,
      Array.from({ length: 5 }, () => ({ type: 'test.record', queue: 'held' })),
    );
    const delayed = await submitBatch(stack, [{ type: 'test.record', queue: 'held', delayMs: 300 }]);
    const other = await submitBatch(stack, [{ type: 'test.record', queue: 'other' }]);
    await stack.waitForStatus(other[0]!.id, ['succeeded']);
    await new Promise((r) => setTimeout(r, 1500));
    expect(log.starts.filter((s) => [...held, ...delayed].some((t) => t.id === s.taskId))).toEqual([]);
    const queues = (await (await stack.request('GET', '/v1/system/queues', { token: ops.token })).json()) as {
      items: { name: string; paused: boolean; length: number; delayed: number }[];
    };
    const heldState = queues.items.find((q) => q.name === 'held')!;
    expect(heldState.paused).toBe(true);
    expect(heldState.length + heldState.delayed).toBe(6);

    const resumed = await stack.request('POST', '/v1/queues/held/resume', { token: ops.token });
    expect(await resumed.json()).toMatchObject({ name: 'held', paused: false });
    for (const t of [...held, ...delayed]) {
      expect((await stack.waitForStatus(t.id, ['succeeded'], 10_000)).attempts).toBe(1);
    }
    const audit = await stack.database.rows<{ action: string; target: string }>(
      sql`SELECT action, target FROM audit_log WHERE action LIKE 'queue.%' ORDER BY id`,
    );
    expect(audit).toEqual([
      { action: 'queue.pause', target: 'held' },
      { action: 'queue.resume', target: 'held' },
    ]);
  });
});
