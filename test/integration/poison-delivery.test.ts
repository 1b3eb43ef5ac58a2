import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { ExecutionLog, recordingType } from '../helpers/recording-type';
import { pendingEntries, streamKey } from '../helpers/queue-probe';
import { testRedis } from '../helpers/redis';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { redisKeys } from '../../lib/queue/keys';

/**
 * The delivery-count rule of the attempt runner: a message delivered more than
 * maxAttempts + 2 times keeps stopping the workers that take it — they die before the
 * attempt is even counted, so the attempts limit never trips — and goes to the DLQ with
 * the reason `poison_message` instead of being run again.
 *
 * Each such death is reproduced here as the queue sees it: a consumer takes the message
 * (XREADGROUP, then XAUTOCLAIM through the backend's own claimIdle, each raising the
 * delivery count) and vanishes without claiming the task in the database or acknowledging.
 */
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe('poison message by delivery count (Redis + PostgreSQL)', () => {
  it('dead-letters a message delivered maxAttempts + 3 times, unrun, with reason poison_message; maxAttempts + 2 still runs', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      queue: 'redis',
      db: 'postgres',
      worker: false,
      config: { CLAIM_IDLE_MS: '300', RECOVERY_INTERVAL_MS: '100' },
      types: [recordingType(log)],
    });
    const s = stack;
    const submit = async (payload: unknown) => {
      const res = await s.request('POST', '/v1/tasks', {
        body: { type: 'test.record', payload, maxAttempts: 1 },
      });
      expect(res.status).toBe(202);
      await s.services.submit.settled(); // the enqueue goes on beside the answer
      return (await res.json()) as TaskView;
    };
    // maxAttempts 1: the limit is 1 + 2 = 3 deliveries.
    const poison = await submit({ ms: 0 });
    expect(await s.queue.read('crashed-1', 10, 0)).toHaveLength(1); // delivery 1
    expect(await s.queue.claimIdle('crashed-2', 0, 10)).toHaveLength(1); // delivery 2
    const boundary = await submit({ ms: 1 });
    expect(await s.queue.read('crashed-3', 10, 0)).toHaveLength(1); // boundary: delivery 1
    expect(await s.queue.claimIdle('crashed-4', 0, 10)).toHaveLength(2); // poison 3, boundary 2

    const before = new Map((await pendingEntries(s.config.REDIS_PREFIX)).map((p) => [p.taskId, p]));
    expect(before.get(poison.id)).toMatchObject({ deliveries: 3, consumer: 'crashed-4' });
    expect(before.get(boundary.id)).toMatchObject({ deliveries: 2, consumer: 'crashed-4' });
    // None of the crashed consumers got as far as the database: no attempt was counted.
    for (const t of [poison, boundary]) {
      expect(await s.waitForStatus(t.id, ['queued'])).toMatchObject({ attempts: 0 });
    }

    // A live worker recovers both idle messages: delivery 4 of the poison (over the limit),
    // delivery 3 of the other (at the limit).
    await s.addWorker('survivor');
    const dead = await s.waitForStatus(poison.id, ['dead'], 10_000);
    expect(dead.lastError).toMatchObject({ code: 'poison_message', retryable: false });
    expect(dead.lastError?.message).toContain('delivered 4 times');
    expect(log.startsOf(poison.id)).toBe(0); // its handler was never run again
    const ok = await s.waitForStatus(boundary.id, ['succeeded'], 10_000);
    expect(ok.attempts).toBe(1);
    expect(log.startsOf(boundary.id)).toBe(1);

    const deadEvent = await s.database.rows<{ message: string; data: { reason: string } }>(
      sql`SELECT message, data FROM task_events WHERE task_id = ${poison.id}::uuid AND kind = 'dead_lettered'`,
    );
    expect(deadEvent).toHaveLength(1);
    expect(deadEvent[0]!.data.reason).toContain('poison_message');
    // In the DLQ, through the API and in the dead-letter stream; its message acknowledged.
    const dlq = (await (await s.request('GET', '/v1/dlq?type=test.record')).json()) as { items: TaskView[] };
    expect(dlq.items.map((t) => t.id)).toEqual([poison.id]);
    expect(dlq.items[0]!.lastError).toMatchObject({ code: 'poison_message' });
    const redis = testRedis();
    try {
      const letters = await redis.xrange(redisKeys(s.config.REDIS_PREFIX).dlq('default'), '-', '+');
      const letter = letters.find(([, fields]) => fields.includes(poison.id));
      expect(letter?.[1].join(' ')).toContain('poison_message');
      expect(await redis.xlen(streamKey(s.config.REDIS_PREFIX))).toBe(0);
    } finally {
      redis.disconnect();
    }
    expect(await pendingEntries(s.config.REDIS_PREFIX)).toEqual([]);
  });
});
