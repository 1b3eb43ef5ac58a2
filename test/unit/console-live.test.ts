import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleClient } from '../helpers/console-client';
import { SseReader } from '../helpers/sse-reader';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

// GET /ui/api/stream: the live tail behind the console's session (README, "Web console",
// "Live tail"), which the pages' script listens to for when to update.

let stack: Stack;
let dev: { id: string; token: string };
let other: { id: string; token: string };
let browser: ConsoleClient;
const open: SseReader[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dev = await stack.user('dev', 'live-dev');
  other = await stack.user('dev', 'live-other');
  browser = new ConsoleClient(stack.app);
  await browser.signIn(dev.token);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  await stack.stop();
});

async function stream(path = '/ui/api/stream', client = browser): Promise<SseReader> {
  const res = await client.get(path);
  expect(res.status, await (res.status === 200 ? Promise.resolve('') : res.clone().text())).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = new SseReader(res.body!);
  open.push(reader);
  return reader;
}

const submitAs = async (token: string) => {
  const res = await stack.request('POST', '/v1/tasks', {
    token,
    body: { type: 'demo.echo', delayMs: 3_600_000 },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};

describe('the console’s live stream', () => {
  it('sends the signed-in dev the events of its own tasks, and not another’s', async () => {
    const reader = await stream();
    const theirs = await submitAs(other.token);
    const mine = await submitAs(dev.token);
    const [e] = await reader.events(1, 10_000);
    expect(e!.event).toBe('task_event');
    expect(JSON.parse(e!.data)).toMatchObject({ taskId: mine, kind: 'submitted' });
    expect(
      (await reader.eventsWithin(500)).map((x) => (JSON.parse(x.data) as { taskId: string }).taskId),
    ).not.toContain(theirs);
  });

  it('follows one task with ?taskId=, and another user’s task is not found', async () => {
    const mine = await submitAs(dev.token);
    const theirs = await submitAs(other.token);
    expect((await browser.get(`/ui/api/stream?taskId=${theirs}`)).status).toBe(404);
    const reader = await stream(`/ui/api/stream?taskId=${mine}`);
    await submitAs(dev.token);
    const csrf = await browser.csrf();
    await browser.post(`/ui/tasks/${mine}/cancel`, { _csrf: csrf });
    const [e] = await reader.events(1, 10_000);
    expect(JSON.parse(e!.data)).toMatchObject({ taskId: mine, kind: 'cancelled' });
  });

  it('refuses a browser without a session (401) and bad filters (422)', async () => {
    const anon = new ConsoleClient(stack.app);
    const res = await anon.get('/ui/api/stream');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    for (const q of ['?since=2025-01-01T00:00:00Z', '?kind=', '?nope=1']) {
      expect((await browser.get(`/ui/api/stream${q}`)).status, q).toBe(422);
    }
  });

  it('counts against the same per-user limit of open streams as GET /v1/logs/stream', async () => {
    const max = stack.services.logFeed.options.maxPerUser;
    for (let i = 0; i < max; i++) await stream();
    expect((await browser.get('/ui/api/stream')).status).toBe(429);
    const api = await stack.request('GET', '/v1/logs/stream', { token: dev.token });
    expect(api.status).toBe(429);
    await open.pop()!.close();
    await stream();
  });
});

describe('the pages', () => {
  it('name the stream they listen to, with their filters', async () => {
    const [t] = await submitBatch(stack, [{ type: 'demo.echo', delayMs: 3_600_000 }]);
    expect(await (await browser.get('/ui/tasks')).text()).toContain('data-live-stream="/ui/api/stream"');
    const admin = new ConsoleClient(stack.app);
    await admin.signIn(stack.adminToken);
    expect(await (await admin.get(`/ui/tasks/${t!.id}`)).text()).toContain(
      `data-live-stream="/ui/api/stream?taskId=${t!.id}"`,
    );
    expect(await (await admin.get('/ui/logs?kind=failed&since=2025-01-01T00:00')).text()).toContain(
      'data-stream="/ui/api/stream?kind=failed"',
    );
  });
});
