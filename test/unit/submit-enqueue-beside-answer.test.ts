// First: zod 4 gives each schema its methods when it is made (see test/helpers/schedules.ts).
import '@hono/zod-openapi';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_ENQUEUING_TASKS } from '../../lib/tasks/submit-service';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

/** The queue's enqueues wait until `open()`; `held` counts the entries of each call. */
function holdEnqueues(stack: Stack): { held: number[]; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const held: number[] = [];
  const enqueue = stack.queue.enqueue.bind(stack.queue);
  vi.spyOn(stack.queue, 'enqueue').mockImplementation(async (entries) => {
    held.push(entries.length);
    await gate;
    return enqueue(entries);
  });
  return { held, open };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

// README "How a task flows": 202 once the task is committed; the enqueue goes on beside the answer.
describe('a submission is answered once committed, its enqueue beside the answer', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(() => stack.stop());

  it('answers 202 while its enqueue is held; the task runs once the enqueue goes through', async () => {
    const gate = holdEnqueues(stack);
    const res = await stack.request('POST', '/v1/tasks', { body: { type: 'demo.echo', payload: { n: 1 } } });
    expect(res.status).toBe(202);
    const task = (await res.json()) as TaskView;
    expect(gate.held).toEqual([1]);
    const stored = (await (await stack.request('GET', `/v1/tasks/${task.id}`)).json()) as TaskView;
    expect(stored.status).toBe('queued');

    let settled = false;
    const settling = stack.services.submit.settled().then(() => (settled = true));
    await turn();
    expect(settled).toBe(false); // a stopping API waits for this enqueue
    gate.open();
    await settling;
    expect((await stack.waitForStatus(task.id, ['succeeded'])).result).toEqual({ n: 1 });
  });

  it(`past ${MAX_ENQUEUING_TASKS} tasks being enqueued, a submission waits for its own enqueue`, async () => {
    const queue = 'held-enqueues';
    expect((await stack.request('POST', `/v1/queues/${queue}/pause`)).status).toBe(200);
    const gate = holdEnqueues(stack);
    const batch = (k: number) => ({
      tasks: Array.from({ length: 1000 }, (_, i) => ({ type: 'demo.echo', queue, payload: { k, i } })),
    });
    const full = MAX_ENQUEUING_TASKS / 1000;
    for (let k = 0; k < full; k++) {
      expect((await stack.request('POST', '/v1/tasks/batch', { body: batch(k) })).status).toBe(202);
    }
    let answered = false;
    const last = stack.request('POST', '/v1/tasks/batch', { body: batch(full) }).then((r) => {
      answered = true;
      return r;
    });
    // Its enqueue has been called (so it is committed), and still it has no answer.
    await vi.waitFor(() => expect(gate.held).toHaveLength(full + 1), { timeout: 10_000 });
    await turn();
    expect(answered).toBe(false);
    gate.open();
    expect((await last).status).toBe(202);
    await stack.services.submit.settled();
    expect(gate.held).toEqual(Array.from({ length: full + 1 }, () => 1000));
  });
});
