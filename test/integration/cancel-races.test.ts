import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { FailPointLatch } from '../helpers/fail-point-latch';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack } from '../helpers/stack';

// A cancel must end a task whatever moment it lands at. These hold the worker at the exact
// point between an attempt's end and its outcome write, where a cancel used to leave the task
// `retrying` with its cancel flag set: every later claim refused it, nothing acknowledged or
// ended it, and its message was taken over every CLAIM_IDLE_MS for ever.

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** Whether the queue still holds a live message for the task (its index names it). */
async function queueHolds(s: Stack, id: string): Promise<boolean> {
  return (await s.queue.lookup([{ taskId: id, queue: 'default' }])).has(id);
}

async function events(s: Stack, id: string): Promise<TaskEventView[]> {
  return ((await (await s.request('GET', `/v1/tasks/${id}/events`)).json()) as { items: TaskEventView[] })
    .items;
}

describe.each(STACK_VARIANTS)('a cancel racing an outcome ($name)', ({ opts }) => {
  it('lands between a failed attempt and its retry write, with the broadcast lost: the task ends cancelled', async () => {
    const latch = new FailPointLatch('worker.after-execute');
    stack = await startStack({ ...opts, failpoints: latch.failpoints, config: { CLAIM_IDLE_MS: '1000' } });
    // The cancel broadcast cannot reach the workers (Redis unreachable for pub/sub, say).
    stack.queue.publishCancel = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const submitted = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.fail', payload: { message: 'flaky' }, maxAttempts: 3 },
    });
    const task = (await submitted.json()) as TaskView;
    latch.arm(task.id);
    await latch.reached;

    const cancel = await stack.request('POST', `/v1/tasks/${task.id}/cancel`);
    expect(cancel.status).toBe(202); // still answered: the request is in the database
    latch.release();

    const ended = await stack.waitForStatus(task.id, ['cancelled', 'dead', 'succeeded'], 8000);
    expect(ended.status).toBe('cancelled');
    expect(ended.attempts).toBe(1); // no retry ran
    const kinds = (await events(stack, task.id)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'cancelled')).toHaveLength(1);
    expect(kinds).not.toContain('retry_scheduled');
    await sleep(300);
    expect(await queueHolds(stack, task.id)).toBe(false);
  });

  it('finds a flagged task queued for its retry: the next claim cancels it instead of leaving it', async () => {
    stack = await startStack({ ...opts, config: { CLAIM_IDLE_MS: '1000' } });
    const submitted = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', delayMs: 400 },
    });
    const task = (await submitted.json()) as TaskView;
    // What an earlier version left behind: a waiting task carrying a cancel request.
    await stack.database.rows(
      sql`UPDATE tasks SET status = 'retrying', cancel_requested_at = now() WHERE id = ${task.id}::uuid`,
    );
    const ended = await stack.waitForStatus(task.id, ['cancelled', 'succeeded'], 8000);
    expect(ended.status).toBe('cancelled');
    expect(ended.attempts).toBe(0);
    await sleep(300);
    expect(await queueHolds(stack, task.id)).toBe(false);
  });
});
