import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { toDate } from '../../lib/tasks/task-row';
import { callApi, startCluster } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { createSchedule, firedTasks, testFirer } from '../helpers/schedules';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Schedules on Redis + PostgreSQL (README "Schedules"): each due time fires exactly once
// across real worker processes, one of them killed with SIGKILL meanwhile; firers racing in
// one process; and missedRuns across a real downtime of every worker.

/** One task per due second between the first and the last, or the gaps and duplicates. */
function tally(seconds: number[]): { tasks: number; seconds: number; gaps: number; duplicates: number } {
  const distinct = new Set(seconds);
  const span = seconds.length ? (Math.max(...seconds) - Math.min(...seconds)) / 1000 + 1 : 0;
  return {
    tasks: seconds.length,
    seconds: span,
    gaps: span - distinct.size,
    duplicates: seconds.length - distinct.size,
  };
}

describe('an every-second schedule on three worker processes, one killed with SIGKILL', () => {
  let cluster: Cluster | undefined;
  let database: Database | undefined;
  afterAll(async () => {
    await database?.close();
    await cluster?.stop();
  });

  it('fires one task per second for ten seconds: no gap, no duplicate', async () => {
    cluster = await startCluster({
      label: 'sched',
      workers: 3,
      env: { WORKER_METRICS_PORT: '0', WORKER_BLOCK_MS: '250' },
    });
    database = cluster.db.open(2);
    const port = cluster.ports[0]!;
    const api = (method: string, path: string, body?: unknown) =>
      callApi(port, cluster!.token, method, path, body);
    const created = await api('POST', '/v1/schedules', {
      name: 'every-second',
      cron: '* * * * * *',
      task: { type: 'demo.echo', payload: { every: 'second' } },
    });
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    const startedAt = Date.now();
    await sleep(5000);
    const victim = cluster.workers[1]!;
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    // Twelve seconds from the creation: at least ten due seconds fired before the pause, on a busy machine too.
    await sleep(Math.max(0, startedAt + 12_000 - Date.now()));
    expect((await api('POST', `/v1/schedules/${id}/pause`)).status).toBe(200);

    const rows = await database.rows<{ id: string; run_at: string; status: string }>(
      sql`SELECT id::text, run_at::text, status FROM tasks WHERE schedule_id = ${id}::uuid`,
    );
    const seconds = rows.map((r) => toDate(r.run_at).getTime());
    const t = tally(seconds);
    const afterKill = seconds.filter((s) => s > killedAt).length;
    console.log(
      `every-second schedule, 3 worker processes, one killed at +${killedAt - startedAt} ms: ` +
        `${t.tasks} tasks over ${t.seconds} due seconds, ${t.gaps} gaps, ${t.duplicates} duplicates ` +
        `(${afterKill} fired after the kill)`,
    );
    expect(t.seconds).toBeGreaterThanOrEqual(10);
    expect(t.gaps).toBe(0);
    expect(t.duplicates).toBe(0);
    expect(afterKill).toBeGreaterThanOrEqual(4);
    // Every due second is a whole second, fired once (its firing row), and runs to its end.
    expect(seconds.every((s) => s % 1000 === 0)).toBe(true);
    const [firings] = await database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM schedule_firings WHERE schedule_id = ${id}::uuid`,
    );
    expect(firings!.n).toBe(t.tasks);
    const [late] = await database.rows<{ p50: number; max: number }>(sql`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, max(ms) AS max FROM (
        SELECT extract(epoch FROM fired_at - due_at) * 1000 AS ms FROM schedule_firings
        WHERE schedule_id = ${id}::uuid) f`);
    console.log(`fired after its due time: p50 ${Math.round(late!.p50)} ms, max ${Math.round(late!.max)} ms`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [open] = await database.rows<{ n: number }>(
        sql`SELECT count(*)::int AS n FROM tasks WHERE schedule_id = ${id}::uuid AND status <> 'succeeded'`,
      );
      if (open!.n === 0) break;
      if (Date.now() > deadline) throw new Error(`${open!.n} scheduled tasks did not succeed`);
      await sleep(200);
    }
    // Which workers fired: the three took turns (the database decided, not a leader).
    const lives = await database.rows<{ worker_id: string }>(sql`SELECT worker_id FROM schedule_firers`);
    expect(lives).toHaveLength(3);
  });
});

describe('on Redis + PostgreSQL in one process', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('four firers ticking at once for five seconds fire each due second once', async () => {
    stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
    const s = await createSchedule(stack, stack.adminToken, {
      name: 'race',
      cron: '* * * * * *',
      task: { type: 'demo.echo' },
    });
    const firers = ['a', 'b', 'c', 'd'].map((id) => testFirer(stack!, `race-${id}`));
    const until = Date.now() + 5000;
    await Promise.all(
      firers.map(async (f) => {
        while (Date.now() < until) {
          await f.tick();
          await sleep(Math.random() * 50);
        }
      }),
    );
    const t = tally((await firedTasks(stack, s.id)).map((x) => x.runAt!.getTime()));
    console.log(
      `four firers racing for 5 s: ${t.tasks} tasks over ${t.seconds} due seconds, ${t.gaps} gaps, ${t.duplicates} duplicates`,
    );
    expect(t.seconds).toBeGreaterThanOrEqual(4);
    expect(t.gaps).toBe(0);
    expect(t.duplicates).toBe(0);
  });

  it('after every worker was down: "skip" fires nothing for the downtime, "runOnce" one task', async () => {
    stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
    const body = (name: string, missedRuns: string) => ({
      name,
      cron: '* * * * * *',
      missedRuns,
      task: { type: 'demo.echo' },
    });
    const skip = await createSchedule(stack, stack.adminToken, body('skip', 'skip'));
    const once = await createSchedule(stack, stack.adminToken, body('once', 'runOnce'));
    const first = await stack.addWorker('before-downtime');
    await sleep(2500);
    await first.stop();
    // Longer than the tolerance (5 s) at both ends of the downtime: some seconds were missed.
    await sleep(14_000);
    await stack.addWorker('after-downtime');
    await sleep(2500);
    for (const x of [skip, once]) await stack.request('POST', `/v1/schedules/${x.id}/pause`);

    const lives = await stack.database.rows<{ worker_id: string; started_at: string; seen_at: string }>(
      sql`SELECT worker_id, started_at::text, seen_at::text FROM schedule_firers ORDER BY started_at`,
    );
    expect(lives.map((l) => l.worker_id)).toEqual(['before-downtime', 'after-downtime']);
    const downFrom = toDate(lives[0]!.seen_at).getTime() + 5000;
    const downUntil = toDate(lives[1]!.started_at).getTime() - 5000;
    expect(downUntil - downFrom).toBeGreaterThan(2000);
    const inDowntime = async (id: string) =>
      (await firedTasks(stack!, id))
        .map((t) => t.runAt!.getTime())
        .filter((t) => t > downFrom && t < downUntil);
    const skipped = await firedTasks(stack, skip.id);
    const ranOnce = await firedTasks(stack, once.id);
    console.log(
      `downtime of ${Math.round((downUntil - downFrom) / 1000)} missed seconds: skip fired ${(await inDowntime(skip.id)).length} ` +
        `of them (${skipped.length} tasks in all), runOnce ${(await inDowntime(once.id)).length} (${ranOnce.length} in all)`,
    );
    expect(await inDowntime(skip.id)).toEqual([]);
    expect(await inDowntime(once.id)).toHaveLength(1);
    // Around the downtime, both fired every second (the tolerance counts as running).
    for (const fired of [skipped, ranOnce]) {
      const before = fired.filter((t) => t.runAt!.getTime() <= downFrom).map((t) => t.runAt!.getTime());
      const after = fired.filter((t) => t.runAt!.getTime() >= downUntil).map((t) => t.runAt!.getTime());
      expect(tally(before).gaps).toBe(0);
      expect(tally(after).gaps).toBe(0);
      expect(before.length).toBeGreaterThanOrEqual(2);
      expect(after.length).toBeGreaterThanOrEqual(2);
    }
  });
});
