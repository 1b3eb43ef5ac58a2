import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { ConsoleClient } from '../helpers/console-client';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

// The console's dead-letter, queue and log actions, their bulk runs and their worst inputs
// (README, "Web console").

let stack: Stack;
let admin: ConsoleClient;
let csrf: string;

const deadTasks = async (n: number, queue: string): Promise<TaskView[]> => {
  const tasks = await submitBatch(
    stack,
    Array.from({ length: n }, () => ({
      type: 'demo.fail',
      queue,
      payload: { message: 'no', retryable: false },
    })),
  );
  await Promise.all(tasks.map((t) => stack.waitForStatus(t.id, ['dead'], 30_000)));
  return tasks;
};

beforeAll(async () => {
  stack = await startStack({ config: { WORKER_CONCURRENCY: '64' } });
  admin = new ConsoleClient(stack.app);
  await admin.signIn(stack.adminToken);
  csrf = await admin.csrf('/ui/dlq');
});
afterAll(async () => {
  await stack.stop();
});

describe('dead letters', () => {
  it('replays all a filter matches in chunks of 100, each answered with where the next starts', async () => {
    const tasks = await deadTasks(150, 'bulk-replay');
    await deadTasks(2, 'elsewhere');
    const confirm = await admin.post('/ui/dlq/replay', {
      _csrf: csrf,
      scope: 'filter',
      queue: 'bulk-replay',
    });
    expect(await confirm.text()).toMatch(/Replay <strong>150<\/strong> dead tasks\?/);
    const form = { _csrf: csrf, scope: 'filter', queue: 'bulk-replay', confirm: '150', chunk: '1' };
    const first = (await (
      await admin.post('/ui/dlq/replay', form, { Accept: 'application/json' })
    ).json()) as {
      processed: number;
      counts: { done: number };
      cursor: string | null;
      done: boolean;
    };
    expect(first).toMatchObject({ processed: 100, counts: { done: 100 }, done: false });
    const second = (await (
      await admin.post('/ui/dlq/replay', { ...form, cursor: first.cursor! }, { Accept: 'application/json' })
    ).json()) as typeof first;
    expect(second).toMatchObject({ processed: 50, counts: { done: 50 }, done: true, cursor: null });
    // demo.fail fails again: every one of them was replayed once, the other queue's not at all.
    const replays = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM task_events WHERE kind = 'replayed'`,
    );
    expect(replays[0]!.n).toBe(150);
    const audit = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM audit_log WHERE action = 'dlq.replay_bulk'`,
    );
    expect(audit[0]!.n).toBe(2); // one per chunk, as two POST /v1/dlq/replay calls would
    expect(tasks).toHaveLength(150);
  });

  it('without the script, one request runs every chunk and comes back with what it did', async () => {
    const tasks = await deadTasks(3, 'no-script');
    const res = await admin.post('/ui/dlq/delete', {
      _csrf: csrf,
      scope: 'filter',
      queue: 'no-script',
      confirm: '3',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/dlq?queue=no-script&done=deleted&n=3');
    const page = await (await admin.get(res.headers.get('location')!)).text();
    expect(page).toContain('Deleted 3 dead tasks for good (discarded).');
    for (const t of tasks) expect((await stack.waitForStatus(t.id, ['discarded'])).status).toBe('discarded');
  });

  it('replays and deletes one, coming back to where it was asked', async () => {
    const [a, b] = await deadTasks(2, 'single');
    const replayed = await admin.post(`/ui/dlq/${a!.id}/replay`, {
      _csrf: csrf,
      back: '/ui/dlq?queue=single',
    });
    expect(replayed.headers.get('location')).toBe('/ui/dlq?queue=single&done=replayed&n=1');
    const deleted = await admin.post(`/ui/dlq/${b!.id}/delete`, {
      _csrf: csrf,
      back: 'https://evil.example/',
    });
    expect(deleted.headers.get('location')).toBe('/ui/dlq?done=deleted&n=1');
    expect((await admin.post(`/ui/dlq/${b!.id}/delete`, { _csrf: csrf })).status).toBe(404);
  });

  it('refuses bad bulk input with 400 or 422 naming it, never 500', async () => {
    const cases: [Record<string, string | string[]>, number, string][] = [
      [{ scope: 'everything' }, 400, 'scope'],
      [{ scope: 'selected' }, 400, 'No task was selected'],
      [{ scope: 'selected', id: ['not-a-uuid', '../etc'] }, 400, 'No task was selected'],
      [{ scope: 'filter', queue: 'bad name!' }, 422, 'queue'],
      [{ scope: 'filter', confirm: '1', chunk: '1', cursor: "1' OR 1=1" }, 400, 'cursor'],
      [{ scope: 'filter', confirm: '1', chunk: '1', cursor: 'ffff' }, 400, 'cursor'],
    ];
    for (const [form, status, text] of cases) {
      const res = await admin.post('/ui/dlq/replay', { _csrf: csrf, ...form });
      expect(res.status, JSON.stringify(form)).toBe(status);
      expect(await res.text()).toContain(text);
    }
  });

  it('refuses a body over MAX_BODY_BYTES with 413', async () => {
    const res = await admin.post('/ui/dlq/replay', {
      _csrf: csrf,
      scope: 'selected',
      pad: 'x'.repeat(1_100_000),
    });
    expect(res.status).toBe(413);
  });
});

describe('queues', () => {
  it('deletes an empty queue, and says why not when it holds live tasks', async () => {
    await submitBatch(stack, [{ type: 'demo.echo', queue: 'busy', delayMs: 3_600_000 }]);
    const [done] = await submitBatch(stack, [{ type: 'demo.echo', queue: 'empty-soon' }]);
    await stack.waitForStatus(done!.id, ['succeeded']);
    const page = await (await admin.get('/ui/queues')).text();
    expect(page).toContain('action="/ui/queues/empty-soon/delete"');
    expect(page).not.toContain('action="/ui/queues/busy/delete"');
    const ok = await admin.post('/ui/queues/empty-soon/delete', { _csrf: csrf });
    expect(ok.headers.get('location')).toBe('/ui/queues?done=queue-deleted&n=0&name=empty-soon');
    const busy = await admin.post('/ui/queues/busy/delete', { _csrf: csrf });
    expect(busy.status).toBe(409);
    expect(await busy.text()).toContain('holds 1 live task');
    expect((await admin.post('/ui/queues/no%20such/pause', { _csrf: csrf })).status).toBe(422);
  });
});

describe('logs', () => {
  it('searches like /v1/logs, and the live tail gets what came after the newest entry shown', async () => {
    const [t] = await submitBatch(stack, [{ type: 'demo.echo', payload: { word: 'needle-7' } }]);
    await stack.waitForStatus(t!.id, ['succeeded']);
    const page = await (await admin.get(`/ui/logs?taskId=${t!.id}`)).text();
    for (const kind of ['submitted', 'started', 'succeeded']) expect(page).toContain(`<code>${kind}</code>`);
    const newest = /data-after="([0-9a-f-]+)"/.exec(page)![1]!;
    const nothing = await (await admin.get(`/ui/fragments/logs?taskId=${t!.id}&after=${newest}`)).text();
    expect(nothing).not.toContain('data-key=');
    const csrfHere = await admin.csrf('/ui/tasks');
    const [u] = await submitBatch(stack, [{ type: 'demo.echo', delayMs: 3_600_000 }]);
    await admin.post(`/ui/tasks/${u!.id}/cancel`, { _csrf: csrfHere });
    const fresh = await (await admin.get(`/ui/fragments/logs?after=${newest}`)).text();
    expect(fresh).toContain(`title="${u!.id}"`);
    expect(fresh).not.toContain(`title="${t!.id}"`);
    expect((await admin.get('/ui/logs?since=2025-13-45T99:99')).status).toBe(422);
  });
});
