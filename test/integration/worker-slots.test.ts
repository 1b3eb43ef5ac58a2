import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { FailPoints } from '../../lib/failpoints';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack } from '../helpers/stack';

// A worker's slot frees when the executor returns, not when the outcome is acknowledged
// (README "Delivery guarantees"): the outcome's write and ack go on beside the next attempt,
// and at most WORKER_CONCURRENCY such writing attempts are held besides the running ones.

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe.each(STACK_VARIANTS)('worker slots ($name)', ({ opts }) => {
  it('start the next attempt while an outcome waits for its ack, and hold at most twice the concurrency', async () => {
    // Every attempt stops between its outcome write and its ack until released.
    const reached: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const failpoints = FailPoints.hooked((name, at) => {
      if (name !== 'worker.after-outcome' || !at.taskId) return;
      reached.push(at.taskId);
      return released;
    });
    stack = await startStack({ ...opts, failpoints, config: { WORKER_CONCURRENCY: '1' } });
    const submitted = await stack.request('POST', '/v1/tasks/batch', {
      body: { tasks: [0, 1, 2].map(() => ({ type: 'demo.echo', payload: {} })) },
    });
    expect(submitted.status).toBe(202);
    const { tasks } = (await submitted.json()) as { tasks: TaskView[] };
    const ids = tasks.map((t) => t.id);

    const deadline = Date.now() + 10_000;
    while (reached.length < 2 && Date.now() < deadline) await sleep(20);
    // Two attempts have run one after the other with one slot: the first one's outcome was
    // written (and is not yet acknowledged) when the second started.
    expect(reached).toHaveLength(2);
    for (const id of reached)
      expect((await stack.waitForStatus(id, ['succeeded'], 2000)).status).toBe('succeeded');
    // The third is not taken: one running slot and one writing are all a worker of
    // concurrency 1 holds.
    await sleep(400);
    expect(reached).toHaveLength(2);
    const third = ids.find((id) => !reached.includes(id))!;
    const view = (await (await stack.request('GET', `/v1/tasks/${third}`)).json()) as TaskView;
    expect(view.status).toBe('queued');
    expect(view.attempts).toBe(0);

    release();
    for (const id of ids)
      expect((await stack.waitForStatus(id, ['succeeded'], 10_000)).status).toBe('succeeded');
    expect(new Set(reached)).toEqual(new Set(ids));
  });
});
