import { describe, expect, it } from 'vitest';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import { RedisQueue } from '../../lib/queue/redis-queue';
import { cleanups, defineQueueContract, entry, redisContractBackend } from '../helpers/queue-contract';
import { deletePrefix, testPrefix, testRedis } from '../helpers/redis';

// The same contract, run against both backends: the memory queue must behave like Redis. The
// Redis Cluster runs it too (redis-cluster.test.ts).
defineQueueContract([
  {
    name: 'memory',
    open() {
      const q = new MemoryQueue();
      return { a: q, b: q };
    },
  },
  redisContractBackend('redis', testRedis),
]);

describe('redis queue: losing Redis state', () => {
  it('recreates a lost consumer group and keeps delivering', async () => {
    const prefix = testPrefix('lost');
    const redis = testRedis();
    const blocking = testRedis();
    const a = new RedisQueue(redis, { prefix, openConnection: () => blocking });
    cleanups.push(async () => {
      await a.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    });
    await a.enqueue([entry('t1')]);
    await a.ack((await a.read('c1', 1, 0))[0]!);
    // What FLUSHALL does to this queue: every key gone, the consumer group with them.
    await deletePrefix(redis, prefix);
    expect(await a.read('c1', 1, 100)).toEqual([]);
    await a.enqueue([entry('t2')]);
    const got = await a.read('c1', 1, 500);
    expect(got.map((m) => m.taskId)).toEqual(['t2']);
  });
});
