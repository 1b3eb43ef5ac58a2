import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

describe('task flow on the memory queue and the embedded database', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('submits a task, runs it and records its result and events', async () => {
    const res = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', payload: { hello: 'world' } },
    });
    expect(res.status).toBe(202);
    const task = (await res.json()) as TaskView;
    expect(res.headers.get('location')).toBe(`/v1/tasks/${task.id}`);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(task.status).toBe('queued');

    const done = await stack.waitForStatus(task.id, ['succeeded']);
    expect(done.result).toEqual({ hello: 'world' });
    expect(done.attempts).toBe(1);
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();

    const events = (await (await stack.request('GET', `/v1/tasks/${task.id}/events`)).json()) as {
      items: TaskEventView[];
    };
    expect(events.items.map((e) => e.kind)).toEqual(['submitted', 'started', 'succeeded']);
    expect(events.items[1]!.workerId).toBe('worker-1');
  });

  it('dead-letters a task whose executor fails without retry', async () => {
    const res = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.fail', payload: { message: 'boom', retryable: false } },
    });
    const task = (await res.json()) as TaskView;
    const dead = await stack.waitForStatus(task.id, ['dead']);
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toMatchObject({ message: 'boom', retryable: false });
  });

  it('retries a retryable failure until maxAttempts, then dead-letters it', async () => {
    const res = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.fail', payload: { message: 'again' }, maxAttempts: 3 },
    });
    const task = (await res.json()) as TaskView;
    const dead = await stack.waitForStatus(task.id, ['dead']);
    expect(dead.attempts).toBe(3);
    const events = (await (await stack.request('GET', `/v1/tasks/${task.id}/events`)).json()) as {
      items: TaskEventView[];
    };
    const kinds = events.items.map((e) => e.kind);
    expect(kinds.filter((k) => k === 'started')).toHaveLength(3);
    expect(kinds.filter((k) => k === 'retry_scheduled')).toHaveLength(2);
    expect(kinds.at(-1)).toBe('dead_lettered');
  });
});
