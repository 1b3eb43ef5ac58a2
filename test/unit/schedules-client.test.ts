import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProcuratorClient, ProcuratorError } from '../../client';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// The typed client's schedules.* against the embedded API, through the app's own fetch.

let stack: Stack;
let client: ProcuratorClient;
beforeAll(async () => {
  stack = await startStack({ worker: false });
  const { token } = await stack.user('dev', 'client-schedules');
  client = new ProcuratorClient({
    baseUrl: 'http://procurator.test',
    token,
    fetch: async (input, init) => stack.app.request(new Request(input, init)),
  });
});
afterAll(async () => {
  await stack.stop();
});

it('creates, lists, reads, edits, pauses, resumes, triggers and deletes a schedule', async () => {
  const s = await client.schedules.create({
    name: 'client-nightly',
    cron: '0 3 * * *',
    timezone: 'Europe/Berlin',
    task: { type: 'demo.echo', payload: { via: 'client' } },
  });
  expect(s).toMatchObject({ name: 'client-nightly', missedRuns: 'skip', overlap: 'allow', paused: false });
  for (let i = 0; i < 3; i++)
    await client.schedules.create({ name: `client-${i}`, cron: '*/5 * * * *', task: { type: 'demo.echo' } });
  expect((await client.schedules.list({ limit: 2 })).items).toHaveLength(2);
  const all: string[] = [];
  for await (const x of client.schedules.list({ limit: 2 })) all.push(x.name);
  expect(all.sort()).toEqual(['client-0', 'client-1', 'client-2', 'client-nightly']);
  expect((await client.schedules.get(s.id)).id).toBe(s.id);
  expect((await client.schedules.update(s.id, { overlap: 'skip' })).overlap).toBe('skip');
  expect((await client.schedules.pause(s.id)).nextRunAt).toBeNull();
  expect((await client.schedules.resume(s.id)).nextRunAt).toBe(s.nextRunAt);
  const task = await client.schedules.trigger(s.id);
  expect(task).toMatchObject({ scheduleId: s.id, payload: { via: 'client' } });
  await client.schedules.delete(s.id);
  const gone = await client.schedules.get(s.id).catch((err: unknown) => err);
  expect(gone).toBeInstanceOf(ProcuratorError);
  expect((gone as ProcuratorError).status).toBe(404);
  const taken = await client.schedules
    .create({ name: 'client-0', cron: '* * * * *', task: { type: 'demo.echo' } })
    .catch((err: unknown) => err);
  expect((taken as ProcuratorError).status).toBe(409);
});
