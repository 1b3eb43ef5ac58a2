import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { FailPoints } from '../../lib/failpoints';
import { CONSUMER_GROUP } from '../../lib/queue/queue-backend';
import type { QueueMessage } from '../../lib/queue/queue-backend';
import type { Worker } from '../../worker/worker';
import { FailPointLatch } from '../helpers/fail-point-latch';
import { ExecutionLog, maxOverlap, recordingType } from '../helpers/recording-type';
import { pendingEntries } from '../helpers/queue-probe';
import { testRedis } from '../helpers/redis';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack, submitBatch } from '../helpers/stack';
import { until } from '../helpers/until';

// Flow-limit slots belong to one attempt. A second delivery of a running task's message (its
// message taken over from a live worker) must neither share nor give back the running
// attempt's slot, and must go back to the worker that runs the task instead of climbing
// towards a false poison_message.

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe.each(STACK_VARIANTS)('flow slots on $name', ({ name, opts }) => {
  it('a second delivery of a running task takes its own slot, gives back only that, and is handed back', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...opts,
      worker: false,
      config: { FLOW_LIMITS: JSON.stringify({ 'type:test.record': { concurrency: 2 } }) },
      types: [recordingType(log)],
    });
    const workers = [await stack.addWorker('w1'), await stack.addWorker('w2')];
    const [first] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 2500 } }]);
    await until('the first attempt to run', () => log.running === 1);
    const owner = workers.find((w) => w.consumer.running().length === 1)!;
    const other: Worker = workers.find((w) => w !== owner)!;
    const message: QueueMessage = { ...owner.consumer.running()[0]!.message };

    // The other worker takes the message over, as its recoverer would from a worker that
    // seemed idle, and runs it: the claim finds the owner's live lease (busy).
    let deliveries = 2;
    if (name.startsWith('Redis')) {
      const redis = testRedis();
      const taken = await redis.xclaim(message.stream, CONSUMER_GROUP, 'w2-thief', 0, message.id);
      redis.disconnect();
      expect(taken).toHaveLength(1);
    } else {
      deliveries = 1;
    }
    other.consumer.dispatch({ ...message, deliveries });
    await until('the other worker to hand the delivery back', () => other.consumer.running().length === 0);

    if (name.startsWith('Redis')) {
      const [entry] = await pendingEntries(stack.config.REDIS_PREFIX);
      expect(entry).toMatchObject({
        taskId: first!.id,
        consumer: owner === workers[0] ? 'w1' : 'w2',
        deliveries: 1,
      });
    }

    // Two more tasks: with the first still running, only one of them may start.
    const more = await submitBatch(stack, [
      { type: 'test.record', payload: { ms: 300 } },
      { type: 'test.record', payload: { ms: 300 } },
    ]);
    for (const t of [first!, ...more]) await stack.waitForStatus(t.id, ['succeeded'], 20_000);
    expect(log.starts.filter((s) => s.taskId === first!.id)).toHaveLength(1);
    expect(maxOverlap(log)).toBe(2);
  });
});

/** Redis + PostgreSQL, one slot for test.record, and a heartbeat every 300 ms. */
function startHeartbeatStack(log: ExecutionLog, failpoints?: FailPoints): Promise<Stack> {
  return startStack({
    queue: 'redis',
    db: 'postgres',
    config: {
      FLOW_LIMITS: JSON.stringify({ 'type:test.record': { concurrency: 1 } }),
      CLAIM_IDLE_MS: '900',
    },
    types: [recordingType(log)],
    failpoints,
  });
}

describe('flow slots on Redis', () => {
  it('gives the slot back when the executor returns, and the heartbeat does not take it again while the ack waits', async () => {
    const log = new ExecutionLog();
    const latch = new FailPointLatch('worker.after-outcome');
    stack = await startHeartbeatStack(log, latch.failpoints);
    const redis = testRedis();
    try {
      await stack.request('POST', '/v1/queues/held/pause');
      const worker = stack.worker!;
      await until('the worker to see the pause', () => worker.pauses.paused().has('held'));
      const [paused] = await submitBatch(stack, [{ type: 'test.record', queue: 'held', payload: { ms: 0 } }]);
      latch.arm(paused!.id);
      await stack.request('POST', '/v1/queues/held/resume');
      await latch.reached; // its outcome is committed, its ack held
      const key = `{${stack.config.REDIS_PREFIX}:flow:type:test.record}:conc`;
      await sleep(1000); // three heartbeats
      expect(await redis.zcard(key)).toBe(0);
      // The freed slot runs another task of the type while the first one's ack still waits.
      const [next] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 0 } }]);
      await stack.waitForStatus(next!.id, ['succeeded'], 10_000);
      latch.release();
      await stack.waitForStatus(paused!.id, ['succeeded'], 10_000);
    } finally {
      latch.release();
      redis.disconnect();
    }
  });

  it('the heartbeat gives a running attempt back the slot Redis lost', async () => {
    const log = new ExecutionLog();
    stack = await startHeartbeatStack(log);
    const [task] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 3000 } }]);
    await until('the first attempt to run', () => log.running === 1);
    const redis = testRedis();
    try {
      const key = `{${stack.config.REDIS_PREFIX}:flow:type:test.record}:conc`;
      expect(await redis.zcard(key)).toBe(1);
      await redis.del(key);
      await until('the slot taken', async () => (await redis.zcard(key)) === 1, 2000);
      const [holder] = await redis.zrange(key, 0, -1);
      expect(holder).toContain(task!.id);
    } finally {
      redis.disconnect();
    }
    await stack.waitForStatus(task!.id, ['succeeded'], 10_000);
  });
});
