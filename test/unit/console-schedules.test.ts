import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleView } from '../../lib/schedules/schedule';
import { ConsoleClient } from '../helpers/console-client';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// The console's schedules page over ScheduleService (README, "Web console", "Schedules"):
// the list with the next run, pause, resume, run now and edit, scoped as /v1/schedules is.

let stack: Stack;
let dev: { id: string; token: string };
let other: { id: string; token: string };
let browser: ConsoleClient;
let csrf: string;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dev = await stack.user('dev', 'sched-dev');
  other = await stack.user('dev', 'sched-other');
  browser = new ConsoleClient(stack.app);
  await browser.signIn(dev.token);
  csrf = await browser.csrf('/ui/schedules');
});
afterAll(async () => {
  await stack.stop();
});

async function create(token: string, name: string): Promise<ScheduleView> {
  const res = await stack.request('POST', '/v1/schedules', {
    token,
    body: { name, cron: '0 3 * * *', timezone: 'Europe/Berlin', task: { type: 'demo.echo', payload: { n: 1 } } },
  });
  expect(res.status).toBe(201);
  return (await res.json()) as ScheduleView;
}

const get = async (id: string) =>
  (await (await stack.request('GET', `/v1/schedules/${id}`)).json()) as ScheduleView;

describe('schedules in the console', () => {
  it('lists the user’s own schedules with their next run; another’s is not found', async () => {
    const mine = await create(dev.token, 'nightly');
    const theirs = await create(other.token, 'theirs');
    const html = await (await browser.get('/ui/schedules')).text();
    expect(html).toContain(`href="/ui/schedules/${mine.id}"`);
    expect(html).toContain(`<time datetime="${mine.nextRunAt}">`);
    expect(html).not.toContain(theirs.id);
    expect((await browser.get(`/ui/schedules/${theirs.id}`)).status).toBe(404);
    expect((await browser.post(`/ui/schedules/${theirs.id}/pause`, { _csrf: csrf })).status).toBe(404);
    expect((await get(theirs.id)).paused).toBe(false);
  });

  it('pauses, resumes and runs one now, audited with the signed-in user', async () => {
    const s = await create(dev.token, 'pausable');
    expect((await browser.post(`/ui/schedules/${s.id}/pause`, { _csrf: csrf })).status).toBe(303);
    expect((await get(s.id)).paused).toBe(true);
    expect(await (await browser.get('/ui/schedules')).text()).toContain('none while paused');
    expect((await browser.post(`/ui/schedules/${s.id}/resume`, { _csrf: csrf })).status).toBe(303);
    expect((await get(s.id)).nextRunAt).toBe(s.nextRunAt);
    const run = await browser.post(`/ui/schedules/${s.id}/trigger`, { _csrf: csrf });
    expect(run.status).toBe(303);
    const taskId = /^\/ui\/tasks\/([0-9a-f-]+)$/.exec(run.headers.get('location')!)![1]!;
    const task = await (await browser.get(`/ui/tasks/${taskId}`)).text();
    expect(task).toContain(`href="/ui/schedules/${s.id}"`);
    const rows = await stack.database.rows<{ action: string }>(
      sql`SELECT action FROM audit_log WHERE actor_id = ${dev.id} AND target = ${s.id} ORDER BY id`,
    );
    expect(rows.map((r) => r.action)).toEqual(
      expect.arrayContaining(['schedule.pause', 'schedule.resume', 'schedule.trigger']),
    );
  });

  it('edits: a new cron takes effect from the next due time; bad fields are named and nothing is saved', async () => {
    const s = await create(dev.token, 'editable');
    const form = {
      _csrf: csrf,
      cron: '30 4 * * *',
      timezone: 'UTC',
      missedRuns: 'runOnce',
      overlap: 'skip',
      task: JSON.stringify({ type: 'demo.echo', payload: { n: 2 } }),
    };
    const saved = await browser.post(`/ui/schedules/${s.id}`, form);
    expect(saved.status).toBe(303);
    const after = await get(s.id);
    expect(after).toMatchObject({ cron: '30 4 * * *', timezone: 'UTC', missedRuns: 'runOnce', overlap: 'skip' });
    expect(after.nextRunAt).toMatch(/T04:30:00\.000Z$/);
    expect(after.task).toEqual({ type: 'demo.echo', payload: { n: 2 } });
    for (const [field, value, path] of [
      ['cron', 'every day', 'cron'],
      ['timezone', 'Mars/Olympus', 'timezone'],
      ['task', '{"type":', 'task'],
      ['task', '{"type":"no.such.type"}', 'task.type'],
      ['task', '{"type":"demo.echo","delayMs":5}', 'task'],
      ['missedRuns', 'always', 'missedRuns'],
    ] as const) {
      const res = await browser.post(`/ui/schedules/${s.id}`, { ...form, [field]: value });
      expect(res.status, `${field}=${value}`).toBe(422);
      expect(await res.text(), `${field}=${value}`).toContain(`${path}`);
    }
    expect((await get(s.id)).cron).toBe('30 4 * * *');
  });
});
