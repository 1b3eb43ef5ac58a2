import { afterEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../lib/queue/keys';
import type { TaskView } from '../../lib/tasks/task';
import { testRedis } from '../helpers/redis';
import { STACK_VARIANTS, startStack } from '../helpers/stack';
import type { Stack } from '../helpers/stack';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function queueNames(s: Stack): Promise<string[]> {
  const res = await s.request('GET', '/v1/queues');
  return ((await res.json()) as { items: { name: string }[] }).items.map((q) => q.name);
}

describe.each(STACK_VARIANTS)('DELETE /v1/queues/:name on $name', ({ opts }) => {
  it('deletes a queue whose tasks all ended: 204, gone from the list, its name free under MAX_QUEUES', async () => {
    stack = await startStack({ ...opts, config: { MAX_QUEUES: '2' } });
    const s = stack;
    const ran = await s.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', queue: 'old', payload: {} },
    });
    const task = (await ran.json()) as TaskView;
    await s.waitForStatus(task.id, ['succeeded']);
    const dead = await s.request('POST', '/v1/tasks', {
      body: { type: 'demo.fail', queue: 'old', payload: {}, maxAttempts: 1 },
    });
    await s.waitForStatus(((await dead.json()) as TaskView).id, ['dead']);
    await s.request('POST', '/v1/tasks', { body: { type: 'demo.echo', queue: 'other', payload: {} } });
    // Two queues exist: a third is refused.
    const third = await s.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', queue: 'new', payload: {} },
    });
    expect(third.status).toBe(422);

    const res = await s.request('DELETE', '/v1/queues/old');
    expect(res.status).toBe(204);
    expect(await queueNames(s)).not.toContain('old');
    if (opts.queue === 'redis') {
      const redis = testRedis();
      const keys = redisKeys(s.config.REDIS_PREFIX);
      expect(await redis.exists(keys.index('old'), keys.dlq('old'), keys.stream('old', 'normal'))).toBe(0);
      expect(await redis.sismember(keys.queues, 'old')).toBe(0);
      redis.disconnect();
    }
    const now = await s.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', queue: 'new', payload: {} },
    });
    expect(now.status).toBe(202);
    // The ended tasks stay readable; an audit entry says who deleted the queue.
    expect((await s.request('GET', `/v1/tasks/${task.id}`)).status).toBe(200);
    const logs = await s.request('GET', '/v1/logs?kind=queue.delete');
    const items = ((await logs.json()) as { items: { target?: string; action?: string }[] }).items;
    expect(items.some((i) => i.target === 'old')).toBe(true);
  });

  it('refuses a queue with a live task (409, problem+json naming the count), an unknown one (404), a bad name (422), a dev (403)', async () => {
    stack = await startStack(opts);
    const s = stack;
    await s.request('POST', '/v1/queues/busy/pause');
    const queued = await s.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', queue: 'busy', payload: {} },
    });
    expect(queued.status).toBe(202);

    const busy = await s.request('DELETE', '/v1/queues/busy');
    expect(busy.status).toBe(409);
    expect(busy.headers.get('content-type')).toContain('application/problem+json');
    expect(((await busy.json()) as { detail: string }).detail).toContain('1 live task');
    expect(await queueNames(s)).toContain('busy');
    // Nothing was lost: resumed, the task runs.
    await s.request('POST', '/v1/queues/busy/resume');
    await s.waitForStatus(((await queued.json()) as TaskView).id, ['succeeded']);

    expect((await s.request('DELETE', '/v1/queues/never-was')).status).toBe(404);
    expect((await s.request('DELETE', '/v1/queues/bad%20name')).status).toBe(422);
    const dev = await s.user('dev');
    expect((await s.request('DELETE', '/v1/queues/busy', { token: dev.token })).status).toBe(403);
  });
});
