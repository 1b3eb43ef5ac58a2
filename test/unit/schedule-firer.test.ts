import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScheduleView } from '../../lib/schedules/schedule';
import { createSchedule, firedTasks, testFirer } from '../helpers/schedules';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// The schedule firer, table-driven on the embedded stack: seed a schedule and the firers'
// lives in the database, tick(), read what it fired (README "Schedules").

let stack: Stack;
let dev: { id: string; token: string };

beforeAll(async () => {
  stack = await startStack({ worker: false });
  dev = await stack.user('dev', 'firer-dev');
});
afterAll(async () => {
  await stack.stop();
});

const everyMinute = (over: Record<string, unknown> = {}) => ({
  name: `m-${Math.random().toString(36).slice(2)}`,
  cron: '* * * * *',
  task: { type: 'demo.echo', payload: { from: 'firer' } },
  ...over,
});

/** The database's now, truncated to the minute. */
async function minuteNow(): Promise<Date> {
  // Keep clear of a minute's edges: nothing else comes due while a test runs, and the current
  // minute's due time is more than the tolerance (5 s) older than a firer starting now.
  for (;;) {
    const [row] = await stack.database.rows<{ s: number; m: string }>(
      sql`SELECT extract(second FROM now())::float AS s, date_trunc('minute', now())::text AS m`,
    );
    if (row!.s >= 7 && row!.s <= 50) return new Date(row!.m.replace(' ', 'T').replace(/\+00$/, 'Z'));
    await sleep(1000);
  }
}

/** Makes the schedule due since 10 minutes ago, and seeds a past firer that ran `until`. */
async function backdate(s: ScheduleView, minute: Date, until: 'now' | 'before'): Promise<void> {
  const from = new Date(minute.getTime() - 10 * 60_000);
  await stack.database.rows(
    sql`UPDATE schedules SET next_run_at = ${from.toISOString()}::timestamptz WHERE id = ${s.id}::uuid`,
  );
  // A worker that ran from two hours ago, until now (it was merely busy) or until just
  // before the first due time (then nothing ran: downtime).
  const seen =
    until === 'now' ? sql`now()` : sql`${new Date(from.getTime() - 30_000).toISOString()}::timestamptz`;
  await stack.database.rows(sql`
    INSERT INTO schedule_firers (id, worker_id, started_at, seen_at)
    VALUES (gen_random_uuid(), 'past-worker', now() - interval '2 hours', ${seen})`);
}

async function clearLives(): Promise<void> {
  await stack.database.rows(sql`DELETE FROM schedule_firers`);
}

async function view(id: string): Promise<ScheduleView> {
  return (await (await stack.request('GET', `/v1/schedules/${id}`)).json()) as ScheduleView;
}

describe('missedRuns after downtime, against a late tick', () => {
  it('late (a worker ran throughout): every due time fires, one task each, runAt = the due time', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute());
    const minute = await minuteNow();
    await backdate(s, minute, 'now');
    await testFirer(stack).tick();
    const fired = await firedTasks(stack, s.id);
    expect(fired.map((t) => t.runAt!.toISOString())).toEqual(
      Array.from({ length: 11 }, (_, i) => new Date(minute.getTime() - (10 - i) * 60_000).toISOString()),
    );
    expect(fired.every((t) => t.status === 'queued')).toBe(true);
    const after = await view(s.id);
    expect(after.nextRunAt).toBe(new Date(minute.getTime() + 60_000).toISOString());
    expect(after.lastRunAt).toBe(minute.toISOString());
    expect(after.lastTaskId).toBe(fired.at(-1)!.id);
    // The task is as its owner submitted it, and names its schedule.
    const task = (await (
      await stack.request('GET', `/v1/tasks/${fired[0]!.id}`, { token: dev.token })
    ).json()) as Record<string, unknown>;
    expect(task).toMatchObject({
      type: 'demo.echo',
      payload: { from: 'firer' },
      createdBy: dev.id,
      scheduleId: s.id,
    });
  });

  it('skip: nothing fires for the due times missed while no worker ran', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute({ missedRuns: 'skip' }));
    const minute = await minuteNow();
    await backdate(s, minute, 'before');
    await testFirer(stack).tick();
    expect(await firedTasks(stack, s.id)).toEqual([]);
    expect((await view(s.id)).nextRunAt).toBe(new Date(minute.getTime() + 60_000).toISOString());
  });

  it('runOnce: one task for the missed due times (the latest of them)', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute({ missedRuns: 'runOnce' }));
    const minute = await minuteNow();
    await backdate(s, minute, 'before');
    const firer = testFirer(stack);
    await firer.tick();
    expect((await firedTasks(stack, s.id)).map((t) => t.runAt!.toISOString())).toEqual([
      minute.toISOString(),
    ]);
    // A second tick fires nothing more: the missed due times are settled.
    await firer.tick();
    expect(await firedTasks(stack, s.id)).toHaveLength(1);
  });

  it('a due time fires once however often firers tick, and its firing row decides', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute());
    const minute = await minuteNow();
    await backdate(s, minute, 'now');
    const due = new Date(minute.getTime() - 5 * 60_000).toISOString();
    // Another firer already fired this due time (its row is there), though next_run_at
    // still says it is due: the row, not next_run_at, lets it through once.
    await stack.database.rows(
      sql`INSERT INTO schedule_firings (schedule_id, due_at, task_id) VALUES (${s.id}::uuid, ${due}::timestamptz, gen_random_uuid())`,
    );
    const firers = [testFirer(stack, 'a'), testFirer(stack, 'b'), testFirer(stack, 'c')];
    await Promise.all(firers.map((f) => f.tick()));
    await Promise.all(firers.map((f) => f.tick()));
    const fired = await firedTasks(stack, s.id);
    expect(fired).toHaveLength(10);
    expect(fired.map((t) => t.runAt!.toISOString())).not.toContain(due);
    expect(new Set(fired.map((t) => t.runAt!.getTime())).size).toBe(10);
  });
});

describe('a firing is submitted as the owner would submit it', () => {
  it('an owner deleted pauses the schedule, with a reason and an audit entry, and fires nothing', async () => {
    const gone = await stack.user('dev', 'firer-gone');
    const s = await createSchedule(stack, gone.token, everyMinute());
    expect((await stack.request('DELETE', `/v1/users/${gone.id}`)).status).toBe(204);
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    await testFirer(stack, 'firer-x').tick();
    expect(await firedTasks(stack, s.id)).toEqual([]);
    const after = await view(s.id);
    expect(after).toMatchObject({ paused: true, nextRunAt: null });
    expect(after.pausedReason).toContain('no longer exists');
    const [entry] = await stack.database.rows<{
      actor_id: string;
      actor_name: string;
      data: { reason: string; owner: string };
    }>(
      sql`SELECT actor_id, actor_name, data FROM audit_log WHERE target = ${s.id} AND action = 'schedule.pause'`,
    );
    expect(entry).toMatchObject({ actor_id: 'procurator', actor_name: 'schedule firer of firer-x' });
    expect(entry!.data.owner).toBe(gone.id);
    expect(entry!.data.reason).toContain('no longer exists');
    // Resumed by ops, it is paused again at its next due time: the owner is still gone.
    const resumed = await stack.request('POST', `/v1/schedules/${s.id}/resume`);
    expect(((await resumed.json()) as ScheduleView).paused).toBe(false);
  });

  it('an owner no longer allowed the type pauses it too (naming the type and the role)', async () => {
    const o = await stack.user('ops', 'firer-ops');
    const s = await createSchedule(
      stack,
      o.token,
      everyMinute({ task: { type: 'feishu.notify', payload: { text: 'hi' } } }),
    );
    await stack.database.rows(sql`UPDATE users SET role = 'dev' WHERE id = ${o.id}::uuid`);
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    await testFirer(stack).tick();
    expect(await firedTasks(stack, s.id)).toEqual([]);
    const after = await view(s.id);
    expect(after.paused).toBe(true);
    expect(after.pausedReason).toBe("feishu.notify tasks need the ops role; the schedule's owner has dev.");
  });

  it('a schedule edited after the firer read it is not fired from the old revision', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute());
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    // Its template edited by its owner between the firer's look and its firing (once): the
    // old template does not fire; the next pass fires the new one.
    let edits = 0;
    const firer = testFirer(stack, 'firer-1', (store) => {
      const read = store.read.bind(store);
      store.read = async (id: string) => {
        const r = await read(id);
        if (edits++ === 0) {
          const body = { task: { type: 'demo.echo', payload: { from: 'edited' } } };
          expect(
            (await stack.request('PATCH', `/v1/schedules/${id}`, { token: dev.token, body })).status,
          ).toBe(200);
        }
        return r;
      };
      return store;
    });
    await firer.tick();
    expect(await firedTasks(stack, s.id)).toEqual([]);
    await firer.tick();
    const [task] = await firedTasks(stack, s.id);
    const fired = (await (await stack.request('GET', `/v1/tasks/${task!.id}`)).json()) as {
      payload: unknown;
    };
    expect(fired.payload).toEqual({ from: 'edited' });
  });
});

describe('overlap', () => {
  it('"skip": no firing while the previous firing’s task has not ended; the due time is passed over', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute({ overlap: 'skip' }));
    const first = await stack.request('POST', `/v1/schedules/${s.id}/trigger`, { token: dev.token });
    const running = ((await first.json()) as { id: string }).id; // queued: no worker runs it
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    const firer = testFirer(stack);
    await firer.tick();
    expect((await firedTasks(stack, s.id)).map((t) => t.id)).toEqual([running]);
    expect(new Date((await view(s.id)).nextRunAt!).getTime()).toBeGreaterThan(Date.now());
    // Once it has ended, the next due time fires.
    await stack.database.rows(
      sql`UPDATE tasks SET status = 'succeeded', finished_at = now() WHERE id = ${running}::uuid`,
    );
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    await firer.tick();
    expect(await firedTasks(stack, s.id)).toHaveLength(2);
  });

  it('"allow": a firing does not wait for the previous task', async () => {
    await clearLives();
    const s = await createSchedule(stack, dev.token, everyMinute());
    await stack.request('POST', `/v1/schedules/${s.id}/trigger`, { token: dev.token });
    await stack.database.rows(
      sql`UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = ${s.id}::uuid`,
    );
    await testFirer(stack).tick();
    expect(await firedTasks(stack, s.id)).toHaveLength(2);
  });
});
