import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisQueue } from '../../lib/queue/redis-queue';
import { deletePrefix, testPrefix, testRedis } from '../helpers/redis';

// The worker's loops over queues (the scheduler every 250 ms, the recoverer every few
// seconds) must stay bounded in time as queues grow: one Redis call for all the queues that
// share a slot, not one per queue.

const QUEUES = 40;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function open(): { queue: RedisQueue; redis: ReturnType<typeof testRedis> } {
  const prefix = testPrefix('loops');
  const redis = testRedis();
  const extra = testRedis();
  const queue = new RedisQueue(redis, { prefix, openConnection: () => extra });
  cleanups.push(async () => {
    await queue.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    extra.disconnect();
  });
  return { queue, redis };
}

describe(`the Redis queue with ${QUEUES} queues`, () => {
  it('moves the due tasks of every queue in one call', async () => {
    const { queue, redis } = open();
    const now = await queue.now();
    await queue.enqueue(
      Array.from({ length: QUEUES }, (_, i) => ({
        taskId: `t${i}`,
        seq: 1,
        queue: `q${i}`,
        priority: 'normal' as const,
        type: 'demo.echo',
        dueAt: now + 500,
      })),
    );
    await sleep(600);
    const calls = vi.spyOn(redis as unknown as { procPromoteDue: () => unknown }, 'procPromoteDue');
    const moved = await queue.promoteDue(1000);
    expect(moved.sort()).toEqual(Array.from({ length: QUEUES }, (_, i) => `t${i}`).sort());
    expect(calls).toHaveBeenCalledTimes(1);
  });

  it('takes over the idle messages of every queue in one call', async () => {
    const { queue, redis } = open();
    await queue.enqueue(
      Array.from({ length: QUEUES }, (_, i) => ({
        taskId: `t${i}`,
        seq: 1,
        queue: `q${i}`,
        priority: 'normal' as const,
        type: 'demo.echo',
      })),
    );
    const read = await queue.read('crashed', QUEUES, 0);
    expect(read).toHaveLength(QUEUES);
    await sleep(80);
    const calls = vi.spyOn(redis as unknown as { procClaimIdle: () => unknown }, 'procClaimIdle');
    const taken = await queue.claimIdle('rescuer', 50, 1000);
    expect(taken).toHaveLength(QUEUES);
    expect(taken.every((m) => m.deliveries === 2)).toBe(true);
    expect(calls).toHaveBeenCalledTimes(1);
  });
});
