import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { createSchedule, firedTasks } from '../helpers/schedules';

// On the embedded stack (memory queue, PGlite, the worker in-process, as `npm start` runs it)
// a schedule fires by itself and its tasks run.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.stop();
});

it('fires an every-second schedule: one task per due second, each run to succeeded', async () => {
  const dev = await stack.user('dev', 'embedded-dev');
  const s = await createSchedule(stack, dev.token, {
    name: 'every-second',
    cron: '* * * * * *',
    task: { type: 'demo.echo', payload: { embedded: true } },
  });
  const deadline = Date.now() + 15_000;
  while ((await firedTasks(stack, s.id)).length < 3 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  expect((await stack.request('POST', `/v1/schedules/${s.id}/pause`, { token: dev.token })).status).toBe(200);
  const fired = await firedTasks(stack, s.id);
  expect(fired.length).toBeGreaterThanOrEqual(3);
  const seconds = fired.map((t) => t.runAt!.getTime());
  // Consecutive seconds, none twice.
  expect(seconds.every((t, i) => i === 0 || t - seconds[i - 1]! === 1000)).toBe(true);
  for (const t of fired) {
    const done = await stack.waitForStatus(t.id, ['succeeded']);
    expect(done).toMatchObject({ result: { embedded: true }, scheduleId: s.id, createdBy: dev.id });
  }
  // Counted once each, after its commit (a firing that committed just before the pause may be
  // announced a moment after it).
  const counted = async () =>
    (await stack.metrics.registry.getSingleMetricAsString('procurator_schedules_fired_total'))
      .trim()
      .split('\n')
      .at(-1);
  for (let i = 0; i < 50 && (await counted()) !== `procurator_schedules_fired_total ${fired.length}`; i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await counted()).toBe(`procurator_schedules_fired_total ${fired.length}`);
  const task = (await (
    await stack.request('GET', `/v1/tasks/${fired[0]!.id}`, { token: dev.token })
  ).json()) as TaskView;
  expect(task.runAt).toBe(new Date(seconds[0]!).toISOString());
});
