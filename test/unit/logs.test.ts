import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogItem } from '../../lib/logs/log-store';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

let stack: Stack;
let devA: { id: string; token: string };
let devB: { id: string; token: string };
let ops: { id: string; token: string };
const tasksA: string[] = [];
let taskB: string;
let cancelledByOps: string;
let failing: string;
/** A moment between the first batch of activity and the second. */
let midpoint: string;

interface Page {
  items: LogItem[];
  nextCursor: string | null;
}

async function logs(query: string, token = stack.adminToken): Promise<Page> {
  const res = await stack.request('GET', `/v1/logs${query}`, { token });
  expect(res.status, `GET /v1/logs${query}: ${await res.clone().text()}`).toBe(200);
  return (await res.json()) as Page;
}

async function submit(token: string, body: unknown): Promise<string> {
  const res = await stack.request('POST', '/v1/tasks', { token, body });
  expect(res.status).toBe(202);
  return ((await res.json()) as TaskView).id;
}

beforeAll(async () => {
  stack = await startStack();
  devA = await stack.user('dev', 'logs-dev-a');
  devB = await stack.user('dev', 'logs-dev-b');
  ops = await stack.user('ops', 'logs-ops');
  tasksA.push(await submit(devA.token, { type: 'demo.echo', payload: { color: 'Ultramarine' } }));
  await stack.waitForStatus(tasksA[0]!, ['succeeded']);
  await sleep(30);
  midpoint = new Date().toISOString();
  await sleep(30);
  failing = await submit(devA.token, {
    type: 'demo.fail',
    payload: { message: 'Disk 100% full_of Gremlins', retryable: false },
  });
  tasksA.push(failing);
  cancelledByOps = await submit(devA.token, { type: 'demo.echo', delayMs: 600_000 });
  tasksA.push(cancelledByOps);
  taskB = await submit(devB.token, { type: 'demo.echo', payload: { color: 'Vermilion' } });
  await stack.waitForStatus(failing, ['dead']);
  await stack.waitForStatus(taskB, ['succeeded']);
  expect(
    (await stack.request('POST', `/v1/tasks/${cancelledByOps}/cancel`, { token: ops.token })).status,
  ).toBe(200);
  expect(
    (await stack.request('POST', '/v1/users', { body: { name: 'Gremlin Wrangler', role: 'dev' } })).status,
  ).toBe(201);
});
afterAll(async () => {
  await stack.stop();
});

describe('GET /v1/logs for ops and admin', () => {
  it('merges task events and audit entries, newest first, each with its source and fields', async () => {
    const { items } = await logs('?limit=500');
    const ids = items.map((i) => i.id);
    expect(ids).toEqual([...ids].sort().reverse());
    const audit = items.filter((i) => i.source === 'audit');
    expect(audit.map((a) => a.action).sort()).toEqual(['task.cancel', 'user.create']);
    expect(audit[0]).toMatchObject({
      actorId: expect.any(String) as string,
      at: expect.any(String) as string,
    });
    const event = items.find((i) => i.source === 'task_event' && i.kind === 'succeeded');
    expect(event).toMatchObject({ taskId: expect.any(String) as string, attempt: 1 });
    for (const who of [ops.token, stack.adminToken]) {
      expect((await logs('?limit=500', who)).items.length).toBe(items.length);
    }
  });

  it('filters by task: its events, and audit entries that target it', async () => {
    const { items } = await logs(`?taskId=${cancelledByOps}`);
    expect(items.map((i) => `${i.source}:${i.source === 'audit' ? i.action : i.kind}`)).toEqual([
      'audit:task.cancel',
      'task_event:cancelled',
      'task_event:submitted',
    ]);
  });

  it('filters by kind: an event kind or an audit action', async () => {
    const dead = await logs('?kind=dead_lettered');
    expect(dead.items.map((i) => (i.source === 'task_event' ? i.taskId : null))).toEqual([failing]);
    const created = await logs('?kind=user.create');
    expect(created.items).toHaveLength(1);
    expect(created.items[0]).toMatchObject({ source: 'audit', action: 'user.create' });
  });

  it('searches a keyword case-insensitively in messages, data, actions and actor names', async () => {
    const gremlins = await logs('?q=gREMLIN');
    const sources = gremlins.items.map((i) => (i.source === 'audit' ? i.action : i.kind)).sort();
    // The failed event (its message and data) and the user.create entry (its data names
    // "Gremlin Wrangler"); payloads are not part of events, so submissions do not match.
    expect(sources).toEqual(['failed', 'user.create']);
    expect((await logs('?q=ultramarine')).items).toEqual([]);
    expect((await logs('?q=TASK.CAN')).items.map((i) => i.source)).toEqual(['audit']);
  });

  it('takes % and _ in the keyword literally', async () => {
    const percent = await logs(`?q=${encodeURIComponent('100%')}`);
    expect(percent.items.map((i) => (i.source === 'task_event' ? i.kind : i.action))).toEqual(['failed']);
    expect((await logs(`?q=${encodeURIComponent('%_')}`)).items).toEqual([]);
    expect((await logs(`?q=${encodeURIComponent('full_of')}`)).items).toHaveLength(1);
    expect((await logs(`?q=${encodeURIComponent('full_xf')}`)).items).toEqual([]);
    expect((await logs(`?q=${encodeURIComponent('\\')}`)).items).toEqual([]);
  });

  it('filters by time: since is inclusive, until exclusive', async () => {
    const all = (await logs('?limit=500')).items;
    const early = (await logs(`?until=${encodeURIComponent(midpoint)}&limit=500`)).items;
    const late = (await logs(`?since=${encodeURIComponent(midpoint)}&limit=500`)).items;
    expect(early.length).toBeGreaterThan(0);
    expect(late.length).toBeGreaterThan(0);
    expect(early.length + late.length).toBe(all.length);
    for (const i of early) expect(Date.parse(i.at)).toBeLessThan(Date.parse(midpoint));
    for (const i of late) expect(Date.parse(i.at)).toBeGreaterThanOrEqual(Date.parse(midpoint));
    expect(early.every((i) => i.source === 'task_event' && i.taskId === tasksA[0])).toBe(true);
    const exact = all[all.length - 1]!.at;
    const window = await logs(`?since=${encodeURIComponent(exact)}&until=${encodeURIComponent(exact)}`);
    expect(window.items).toEqual([]);
  });

  it('pages with a cursor through the whole merge, without gaps or repeats', async () => {
    const all = (await logs('?limit=500')).items.map((i) => i.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await logs(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 100);
    expect(seen).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 3));
  });

  it('refuses bad queries with 422 (400 for a foreign cursor)', async () => {
    for (const q of [
      '?limit=501',
      '?limit=0',
      '?since=yesterday',
      `?since=${encodeURIComponent('2030-01-02T00:00:00Z')}&until=${encodeURIComponent('2030-01-01T00:00:00Z')}`,
      '?status=dead',
      `?q=${encodeURIComponent('a\u0000b')}`,
    ]) {
      expect((await stack.request('GET', `/v1/logs${q}`)).status, q).toBe(422);
    }
    expect((await stack.request('GET', '/v1/logs?cursor=bm90LWEtdXVpZA')).status).toBe(400);
    expect((await stack.request('GET', '/v1/logs?taskId=not-a-task')).status).toBe(404);
  });
});

describe('GET /v1/logs for a dev', () => {
  it('shows only the events of its own tasks, and no audit entries', async () => {
    const { items } = await logs('?limit=500', devA.token);
    expect(items.length).toBeGreaterThan(5);
    for (const i of items) {
      expect(i.source).toBe('task_event');
      if (i.source === 'task_event') expect(tasksA).toContain(i.taskId);
    }
    const b = await logs('?limit=500', devB.token);
    expect(b.items.every((i) => i.source === 'task_event' && i.taskId === taskB)).toBe(true);
  });

  it('finds its own events by keyword and kind, never another’s', async () => {
    expect((await logs('?q=gremlin', devA.token)).items.map((i) => i.source)).toEqual(['task_event']);
    expect((await logs('?q=gremlin', devB.token)).items).toEqual([]);
    expect((await logs('?kind=user.create', devA.token)).items).toEqual([]);
    expect((await logs('?kind=task.cancel', devA.token)).items).toEqual([]);
  });

  it('gets 404 for another’s task id, and its own task’s events for its own', async () => {
    expect((await stack.request('GET', `/v1/logs?taskId=${taskB}`, { token: devA.token })).status).toBe(404);
    const own = await logs(`?taskId=${cancelledByOps}`, devA.token);
    expect(own.items.map((i) => (i.source === 'task_event' ? i.kind : i.action))).toEqual([
      'cancelled',
      'submitted',
    ]);
  });
});
