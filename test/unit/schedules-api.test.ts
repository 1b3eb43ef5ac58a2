import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleView } from '../../lib/schedules/schedule';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// /v1/schedules on the embedded stack (memory queue, PGlite), no worker: what each route
// answers, to whom, and how it refuses (README "Schedules").

let stack: Stack;
let dev: { id: string; token: string };
let other: { id: string; token: string };
let ops: { id: string; token: string };

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dev = await stack.user('dev', 'sched-dev');
  other = await stack.user('dev', 'sched-other');
  ops = await stack.user('ops', 'sched-ops');
});
afterAll(async () => {
  await stack.stop();
});

const nightly = (over: Record<string, unknown> = {}) => ({
  name: `nightly-${Math.random().toString(36).slice(2)}`,
  cron: '0 3 * * *',
  timezone: 'Europe/Berlin',
  task: { type: 'demo.echo', payload: { hello: 'schedules' } },
  ...over,
});

async function create(token: string, body: unknown): Promise<ScheduleView> {
  const res = await stack.request('POST', '/v1/schedules', { token, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as ScheduleView;
}

async function problem(
  res: Response,
): Promise<{ status: number; errors: { path: string; message: string }[]; detail: string }> {
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  const body = (await res.json()) as { errors?: { path: string; message: string }[]; detail: string };
  return { status: res.status, errors: body.errors ?? [], detail: body.detail };
}

async function audit(target: string): Promise<string[]> {
  const rows = await stack.database.rows<{ action: string }>(
    sql`SELECT action FROM audit_log WHERE target = ${target} ORDER BY id`,
  );
  return rows.map((r) => r.action);
}

describe('creating a schedule', () => {
  it('answers 201 with the schedule, its defaults and its next due time, and audits it', async () => {
    const res = await stack.request('POST', '/v1/schedules', {
      token: dev.token,
      body: nightly({ name: 'backup' }),
    });
    expect(res.status).toBe(201);
    const s = (await res.json()) as ScheduleView;
    expect(res.headers.get('location')).toBe(`/v1/schedules/${s.id}`);
    expect(s).toMatchObject({
      name: 'backup',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      task: { type: 'demo.echo', payload: { hello: 'schedules' } },
      missedRuns: 'skip',
      overlap: 'allow',
      paused: false,
      pausedReason: null,
      lastRunAt: null,
      lastTaskId: null,
      createdBy: dev.id,
    });
    // 03:00 in Berlin is 01:00 or 02:00 UTC, within the next day.
    const next = new Date(s.nextRunAt!);
    expect([1, 2]).toContain(next.getUTCHours());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(await audit(s.id)).toEqual(['schedule.create']);
  });

  it('takes UTC by default, and a paused schedule has no next due time', async () => {
    const s = await create(dev.token, {
      ...nightly(),
      timezone: undefined,
      paused: true,
      missedRuns: 'runOnce',
      overlap: 'skip',
    });
    expect(s).toMatchObject({
      timezone: 'UTC',
      paused: true,
      nextRunAt: null,
      missedRuns: 'runOnce',
      overlap: 'skip',
    });
  });

  it('refuses a name its owner already uses (409), not one another user uses', async () => {
    const body = nightly({ name: 'dup' });
    await create(dev.token, body);
    const again = await problem(await stack.request('POST', '/v1/schedules', { token: dev.token, body }));
    expect(again.status).toBe(409);
    expect(again.detail).toContain('"dup"');
    await create(other.token, body);
  });

  it.each([
    [{ cron: '* * * *' }, 'cron', 'must have 5 fields'],
    [{ cron: '0 25 * * *' }, 'cron', 'hour'],
    [{ cron: '0 0 31 2 *' }, 'cron', 'never comes due'],
    [{ timezone: 'Europe/Atlantis' }, 'timezone', 'unknown time zone'],
    [{ task: { type: 'no.such.type' } }, 'task.type', 'unknown task type'],
    [{ task: { type: 'demo.sleep', payload: { ms: 'long' } } }, 'task.payload.ms', ''],
    [{ task: { type: 'demo.echo', runAt: '2030-01-01T00:00:00Z' } }, 'task', 'runAt'],
    [{ task: { type: 'demo.echo', delayMs: 10 } }, 'task', 'delayMs'],
    [{ task: { type: 'demo.echo', status: 'succeeded' } }, 'task', 'status'],
    [{ task: { type: 'demo.echo', payload: { s: 'a\u0000b' } } }, 'task.payload.s', 'NUL'],
    [{ task: { type: 'http', payload: { url: 'http://127.0.0.1/' } } }, 'task.payload', ''],
    [{ missedRuns: 'always' }, 'missedRuns', ''],
    [{ overlap: 'never' }, 'overlap', ''],
    [{ name: '' }, 'name', ''],
    [{ name: 'a\nb' }, 'name', 'control'],
    [{ createdBy: 'someone-else' }, '(body)', 'createdBy'],
  ])('refuses %j with 422 naming %s', async (over, path, words) => {
    const p = await problem(
      await stack.request('POST', '/v1/schedules', { token: dev.token, body: nightly(over) }),
    );
    expect(p.status).toBe(422);
    const hit = p.errors.find((e) => e.path === path || e.path.startsWith(`${path}`));
    expect(hit, JSON.stringify(p.errors)).toBeDefined();
    expect(hit!.message.toLowerCase()).toContain(words.toLowerCase());
  });

  it('names every problem at once: a bad cron, a bad time zone and a bad task', async () => {
    const p = await problem(
      await stack.request('POST', '/v1/schedules', {
        token: dev.token,
        body: nightly({ cron: '0 99 * * *', task: { type: 'demo.sleep', payload: { ms: -1 } } }),
      }),
    );
    expect(p.status).toBe(422);
    expect(p.errors.map((e) => e.path).sort()).toEqual(['cron', 'task.payload.ms']);
  });

  it('refuses a type the caller may not submit (403), as POST /v1/tasks does', async () => {
    const p = await problem(
      await stack.request('POST', '/v1/schedules', {
        token: dev.token,
        body: nightly({ task: { type: 'pg.backup', payload: { target: 'main' } } }),
      }),
    );
    expect(p.status).toBe(403);
    expect(p.detail).toContain('pg.backup tasks need the ops role');
  });

  it('refuses bodies that are not JSON objects, and worst inputs, without a 500', async () => {
    for (const body of [
      '[]',
      '"x"',
      '{"name":',
      '{}',
      JSON.stringify({ ...nightly(), cron: 'x'.repeat(5000) }),
    ]) {
      const res = await stack.request('POST', '/v1/schedules', {
        token: dev.token,
        rawBody: body,
        headers: { 'Content-Type': 'application/json' },
      });
      expect([400, 422], body.slice(0, 40)).toContain(res.status);
    }
  });
});

describe('reading, editing, pausing, deleting', () => {
  it('lists a dev its own schedules (paged, newest first); ops see everyone’s', async () => {
    const mine = [
      await create(dev.token, nightly()),
      await create(dev.token, nightly()),
      await create(dev.token, nightly()),
    ];
    const theirs = await create(other.token, nightly());
    const first = (await (
      await stack.request('GET', '/v1/schedules?limit=2', { token: dev.token })
    ).json()) as {
      items: ScheduleView[];
      nextCursor: string | null;
    };
    expect(first.items.map((s) => s.id)).toEqual([mine[2]!.id, mine[1]!.id]);
    expect(first.nextCursor).toBeTruthy();
    const seen: string[] = [];
    for (let cursor: string | null = ''; cursor !== null;) {
      const page = (await (
        await stack.request('GET', `/v1/schedules?limit=500${cursor ? `&cursor=${cursor}` : ''}`, {
          token: dev.token,
        })
      ).json()) as { items: ScheduleView[]; nextCursor: string | null };
      seen.push(...page.items.map((s) => s.id));
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(expect.arrayContaining(mine.map((s) => s.id)));
    expect(seen).not.toContain(theirs.id);
    const all = (await (
      await stack.request('GET', '/v1/schedules?limit=500', { token: ops.token })
    ).json()) as {
      items: ScheduleView[];
    };
    expect(all.items.map((s) => s.id)).toEqual(expect.arrayContaining([theirs.id, mine[0]!.id]));
    expect((await stack.request('GET', '/v1/schedules?cursor=bogus', { token: dev.token })).status).toBe(400);
    expect((await stack.request('GET', '/v1/schedules?limit=501', { token: dev.token })).status).toBe(422);
  });

  it('is 404 for another dev — to read, edit, pause, resume, trigger or delete — and works for ops', async () => {
    const s = await create(other.token, nightly());
    for (const [method, path, body] of [
      ['GET', `/v1/schedules/${s.id}`],
      ['PATCH', `/v1/schedules/${s.id}`, { cron: '0 4 * * *' }],
      ['POST', `/v1/schedules/${s.id}/pause`],
      ['POST', `/v1/schedules/${s.id}/resume`],
      ['POST', `/v1/schedules/${s.id}/trigger`],
      ['DELETE', `/v1/schedules/${s.id}`],
    ] as const) {
      const res = await stack.request(method, path, { token: dev.token, body });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await stack.request('GET', '/v1/schedules/not-a-uuid', { token: dev.token })).status).toBe(404);
    const patched = await stack.request('PATCH', `/v1/schedules/${s.id}`, {
      token: ops.token,
      body: { cron: '0 4 * * *' },
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as ScheduleView).createdBy).toBe(other.id);
    const audited = await stack.database.rows<{ actor_id: string; action: string }>(
      sql`SELECT actor_id, action FROM audit_log WHERE target = ${s.id} ORDER BY id`,
    );
    expect(audited).toEqual([
      { actor_id: other.id, action: 'schedule.create' },
      { actor_id: ops.id, action: 'schedule.update' },
    ]);
  });

  it('PATCH: a new cron or time zone recomputes the next due time; other edits keep it', async () => {
    const s = await create(dev.token, nightly({ timezone: 'UTC' }));
    const patch = async (body: unknown) => {
      const res = await stack.request('PATCH', `/v1/schedules/${s.id}`, { token: dev.token, body });
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as ScheduleView;
    };
    const tz = await patch({ timezone: 'Asia/Tokyo' });
    expect(new Date(tz.nextRunAt!).getUTCHours()).toBe(18); // 03:00 JST
    const task = await patch({
      task: { type: 'demo.sleep', payload: { ms: 5 } },
      missedRuns: 'runOnce',
      overlap: 'skip',
      name: 'renamed',
    });
    expect(task).toMatchObject({
      nextRunAt: tz.nextRunAt,
      missedRuns: 'runOnce',
      overlap: 'skip',
      name: 'renamed',
      task: { type: 'demo.sleep' },
    });
    const cron = await patch({ cron: '*/5 * * * * *' });
    expect(new Date(cron.nextRunAt!).getTime() - Date.now()).toBeLessThanOrEqual(5000);
    const bad = await problem(
      await stack.request('PATCH', `/v1/schedules/${s.id}`, { token: dev.token, body: { cron: 'nope' } }),
    );
    expect(bad.status).toBe(422);
    const field = await problem(
      await stack.request('PATCH', `/v1/schedules/${s.id}`, { token: dev.token, body: { paused: true } }),
    );
    expect(field.errors[0]!.message).toContain('paused');
    expect(await audit(s.id)).toEqual([
      'schedule.create',
      'schedule.update',
      'schedule.update',
      'schedule.update',
    ]);
  });

  it('PATCH to a name the owner already uses is 409', async () => {
    const a = await create(dev.token, nightly({ name: 'taken-a' }));
    await create(dev.token, nightly({ name: 'taken-b' }));
    const res = await stack.request('PATCH', `/v1/schedules/${a.id}`, {
      token: dev.token,
      body: { name: 'taken-b' },
    });
    expect(res.status).toBe(409);
  });

  it('pause clears the next due time; resume computes it from now; both audited', async () => {
    const s = await create(dev.token, nightly());
    const paused = (await (
      await stack.request('POST', `/v1/schedules/${s.id}/pause`, { token: dev.token })
    ).json()) as ScheduleView;
    expect(paused).toMatchObject({ paused: true, nextRunAt: null });
    const resumed = (await (
      await stack.request('POST', `/v1/schedules/${s.id}/resume`, { token: dev.token })
    ).json()) as ScheduleView;
    expect(resumed).toMatchObject({ paused: false, nextRunAt: s.nextRunAt });
    expect(await audit(s.id)).toEqual(['schedule.create', 'schedule.pause', 'schedule.resume']);
  });

  it('trigger fires now (202, the task, scheduleId set) even when paused, and leaves the task after a delete', async () => {
    const s = await create(dev.token, nightly({ paused: true }));
    const res = await stack.request('POST', `/v1/schedules/${s.id}/trigger`, { token: dev.token });
    expect(res.status).toBe(202);
    const task = (await res.json()) as TaskView;
    expect(task).toMatchObject({
      type: 'demo.echo',
      status: 'queued',
      scheduleId: s.id,
      createdBy: dev.id,
      payload: { hello: 'schedules' },
    });
    const after = (await (
      await stack.request('GET', `/v1/schedules/${s.id}`, { token: dev.token })
    ).json()) as ScheduleView;
    expect(after).toMatchObject({ lastTaskId: task.id, paused: true });
    expect(after.lastRunAt).not.toBeNull();
    expect((await stack.request('DELETE', `/v1/schedules/${s.id}`, { token: dev.token })).status).toBe(204);
    expect((await stack.request('GET', `/v1/schedules/${s.id}`, { token: dev.token })).status).toBe(404);
    expect((await stack.request('DELETE', `/v1/schedules/${s.id}`, { token: dev.token })).status).toBe(404);
    const kept = (await (
      await stack.request('GET', `/v1/tasks/${task.id}`, { token: dev.token })
    ).json()) as TaskView;
    expect(kept.scheduleId).toBe(s.id);
    expect(await audit(s.id)).toEqual(['schedule.create', 'schedule.trigger', 'schedule.delete']);
    // A task a client submitted names no schedule.
    const plain = (await (
      await stack.request('POST', '/v1/tasks', { token: dev.token, body: { type: 'demo.echo' } })
    ).json()) as TaskView;
    expect(plain.scheduleId).toBeNull();
  });

  it('trigger of a schedule whose owner is gone is 409; one the owner may no longer submit, 403', async () => {
    const gone = await stack.user('dev', 'sched-gone');
    const s = await create(gone.token, nightly());
    expect((await stack.request('DELETE', `/v1/users/${gone.id}`)).status).toBe(204);
    const p = await problem(
      await stack.request('POST', `/v1/schedules/${s.id}/trigger`, { token: ops.token }),
    );
    expect(p.status).toBe(409);
    expect(p.detail).toContain('no longer exists');

    // An ops schedule of feishu.notify, its owner's role lowered behind the API's back.
    const o = await stack.user('ops', 'sched-ops-lowered');
    const b = await create(o.token, nightly({ task: { type: 'feishu.notify', payload: { text: 'hi' } } }));
    await stack.database.rows(sql`UPDATE users SET role = 'dev' WHERE id = ${o.id}::uuid`);
    const refused = await problem(
      await stack.request('POST', `/v1/schedules/${b.id}/trigger`, { token: stack.adminToken }),
    );
    expect(refused.status).toBe(403);
    expect(refused.detail).toContain("the schedule's owner has dev");
  });

  it('refuses a schedule to a deprecated API_TOKENS token (403): its firings need a user', async () => {
    const legacy = await startStack({
      worker: false,
      config: { API_TOKENS: JSON.stringify({ 'legacy-token-for-schedules-0123456789': 'dev' }) },
    });
    try {
      const res = await legacy.request('POST', '/v1/schedules', {
        token: 'legacy-token-for-schedules-0123456789',
        body: nightly(),
      });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('API_TOKENS');
    } finally {
      await legacy.stop();
    }
  });
});
