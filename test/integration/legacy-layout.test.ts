import { afterEach, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger';
import { dropLegacyLayout } from '../../lib/queue/legacy-layout';
import { redisKeys } from '../../lib/queue/keys';
import type { TaskView } from '../../lib/tasks/task';
import { deletePrefix, testRedis } from '../helpers/redis';
import { startStack } from '../helpers/stack';
import type { Stack } from '../helpers/stack';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

it('an upgrade from the single-tag layout: its keys are removed and the reconciler queues their tasks again', async () => {
  stack = await startStack({
    queue: 'redis',
    db: 'postgres',
    worker: false,
    config: { RECONCILE_INTERVAL_MS: '200' },
  });
  const res = await stack.request('POST', '/v1/tasks', {
    body: { type: 'demo.echo', payload: { old: true } },
  });
  expect(res.status).toBe(202);
  const task = (await res.json()) as TaskView;
  // What the old release left in Redis for this task, and nothing of the new layout.
  const prefix = stack.config.REDIS_PREFIX;
  const redis = testRedis();
  try {
    await deletePrefix(redis, prefix);
    await redis.hset(`{${prefix}}:index`, task.id, '1|default|normal|demo.echo');
    await redis.xadd(`{${prefix}}:stream:default:normal`, '*', 't', task.id, 's', '1', 'y', 'demo.echo');
    await redis.zadd(`{${prefix}}:delayed:default`, Date.now() + 60_000, 'another');
    await redis.xadd(`{${prefix}}:dlq`, '*', 'task', 'x', 'payload', '{"secret":"s"}');

    expect(await dropLegacyLayout(redis, prefix, silentLogger())).toBe(4);
    const left = await redis.keys(redisKeys(prefix).pattern);
    expect(left).toEqual([]);
    await stack.addWorker('upgraded');
    const done = await stack.waitForStatus(task.id, ['succeeded']);
    expect(done.result).toEqual({ old: true });
    // A second start finds nothing more to remove.
    expect(await dropLegacyLayout(redis, prefix, silentLogger())).toBe(0);
  } finally {
    redis.disconnect();
  }
});
