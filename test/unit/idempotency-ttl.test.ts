import { afterEach, beforeEach, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { ageTask } from '../helpers/history';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

let stack: Stack;
beforeEach(async () => {
  stack = await startStack({ worker: false, config: { IDEMPOTENCY_TTL_MS: '3600000' } });
});
afterEach(async () => {
  await stack.stop();
});

async function submit(
  key: string,
  body: unknown,
): Promise<{ status: number; task: TaskView; replayed: boolean }> {
  const res = await stack.request('POST', '/v1/tasks', { body, headers: { 'Idempotency-Key': key } });
  return {
    status: res.status,
    task: (await res.json()) as TaskView,
    replayed: res.headers.get('Idempotent-Replayed') === 'true',
  };
}

it('an Idempotency-Key younger than IDEMPOTENCY_TTL_MS returns the original task', async () => {
  const body = { type: 'demo.echo', payload: { n: 1 } };
  const first = await submit('key-fresh', body);
  expect(first.status).toBe(202);
  await ageTask(stack.database, first.task.id, 3_500_000); // just under the hour
  const again = await submit('key-fresh', body);
  expect(again).toMatchObject({ status: 200, replayed: true, task: { id: first.task.id } });
  // Another body under the same live key is still refused.
  expect((await submit('key-fresh', { type: 'demo.echo', payload: { n: 2 } })).status).toBe(422);
});

it('an expired Idempotency-Key may be used again and makes a new task, also with another body', async () => {
  const first = await submit('key-old', { type: 'demo.echo', payload: { n: 1 } });
  await ageTask(stack.database, first.task.id, 3_700_000); // just over the hour
  const second = await submit('key-old', { type: 'demo.echo', payload: { n: 2 } });
  expect(second.status).toBe(202);
  expect(second.task.id).not.toBe(first.task.id);
  // The new task holds the key now; the old one is still there, without it.
  expect(await submit('key-old', { type: 'demo.echo', payload: { n: 2 } })).toMatchObject({
    status: 200,
    task: { id: second.task.id },
  });
  expect((await stack.request('GET', `/v1/tasks/${first.task.id}`)).status).toBe(200);
});

it('concurrent repeats of an expired key make exactly one new task', async () => {
  const body = { type: 'demo.echo', payload: { n: 3 } };
  const first = await submit('key-race', body);
  await ageTask(stack.database, first.task.id, 7_200_000);
  const answers = await Promise.all(Array.from({ length: 10 }, () => submit('key-race', body)));
  expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
  expect(new Set(answers.map((a) => a.task.id)).size).toBe(1);
  expect(answers[0]!.task.id).not.toBe(first.task.id);
});
