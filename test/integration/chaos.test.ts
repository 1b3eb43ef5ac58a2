import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { callApi, clearPrefix, clusterEnv, createAdminToken, waitForTaskStatus } from '../helpers/cluster';
import { createTestPostgres } from '../helpers/databases';
import type { TestPostgres } from '../helpers/databases';
import { listeningPort, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';
import { metricValue, pendingEntries, workerMetricsPort } from '../helpers/queue-probe';
import { testPrefix } from '../helpers/redis';
import { TcpProxy } from '../helpers/tcp-proxy';

/**
 * Real processes (the dist/ bundle) over Redis and PostgreSQL, killed, frozen and crashed at
 * exact points. Every scenario is bounded in time and in count.
 */
let db: TestPostgres;
let database: Database;
let token: string;
const running: Proc[] = [];

beforeAll(async () => {
  db = await createTestPostgres();
  database = db.open(4);
  token = await createAdminToken({ DATABASE_URL: db.url }, 'chaos');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop(1000)));
});
afterAll(async () => {
  await db?.drop();
});

function envFor(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...clusterEnv(db.url, prefix),
    WORKER_METRICS_PORT: '0',
    CLAIM_IDLE_MS: '1500',
    RECOVERY_INTERVAL_MS: '250',
    RECONCILE_INTERVAL_MS: '1000',
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '500',
    WORKER_BLOCK_MS: '250',
    ...extra,
  };
}

function start(args: string[], env: Record<string, string>): Proc {
  const p = spawnProcurator(args, env);
  running.push(p);
  return p;
}

async function startWorker(env: Record<string, string>, id: string): Promise<Proc> {
  const p = start(['worker'], { ...env, WORKER_ID: id });
  await p.waitFor((l) => l.includes('worker metrics listening'));
  return p;
}

const api = (port: number, method: string, path: string, body?: unknown) =>
  callApi(port, token, method, path, body);

async function taskEvents(port: number, id: string): Promise<TaskEventView[]> {
  return ((await api(port, 'GET', `/v1/tasks/${id}/events`)).body as unknown as { items: TaskEventView[] })
    .items;
}

const waitForStatus = (port: number, id: string, statuses: string[], timeoutMs?: number) =>
  waitForTaskStatus(port, token, id, statuses, timeoutMs);

describe('crash chaos: kill -9 a random worker every couple of seconds', () => {
  const prefix = testPrefix('chaos');
  afterAll(() => clearPrefix(prefix));

  it('2,000 tasks of 10-200 ms all end succeeded, each with exactly one terminal event', async () => {
    const claimIdleMs = 1500;
    const recoveryIntervalMs = 250;
    // Recovery bound: a killed worker's tasks are taken over once their messages have been
    // idle CLAIM_IDLE_MS and the next recoverer pass runs; the margin covers a busy machine.
    const recoveryBoundMs = claimIdleMs + recoveryIntervalMs + 1000;
    const env = envFor(prefix, {
      WORKER_CONCURRENCY: '16',
      CLAIM_IDLE_MS: String(claimIdleMs),
      RECOVERY_INTERVAL_MS: String(recoveryIntervalMs),
    });
    const serve = start(['serve'], env);
    const port = await listeningPort(serve);
    const workerIds = ['chaos-a-0', 'chaos-b-0'];
    const workers = [await startWorker(env, workerIds[0]!), await startWorker(env, workerIds[1]!)];

    // 2,000 tasks, 50 every 400 ms (125/s, about 16 s): steady work below what one worker
    // alone can run (16 slots / ~105 ms ≈ 150/s), so that a survivor has free slots to take
    // a killed worker's tasks over. (The recoverer only fills free slots: under a backlog
    // that keeps every slot busy, a lost task waits for a free slot like the backlog does,
    // and the recovery bound below does not hold.)
    const ids: string[] = [];
    const submitting = (async () => {
      for (let b = 0; b < 40; b++) {
        const batchAt = Date.now();
        const tasks = Array.from({ length: 50 }, () => ({
          type: 'demo.sleep',
          payload: { ms: 10 + Math.floor(Math.random() * 190) },
          maxAttempts: 10,
        }));
        const res = await api(port, 'POST', '/v1/tasks/batch', { tasks });
        expect(res.status).toBe(202);
        ids.push(...(res.body as unknown as { tasks: TaskView[] }).tasks.map((t) => t.id));
        await sleep(Math.max(0, 400 - (Date.now() - batchAt)));
      }
    })();
    let submitted = false;
    void submitting.then(
      () => (submitted = true),
      () => (submitted = true),
    );

    /**
     * How long after a kill the tasks the killed worker was running are all taken over (by
     * a claim that moves their lease to another worker) or ended; null when it ran none.
     */
    const measureRecovery = async (workerId: string, killedAt: number): Promise<number | null> => {
      const held = async () =>
        (
          await database.rows<{ n: number }>(
            sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running' AND lease_owner = ${workerId}`,
          )
        )[0]!.n;
      if ((await held()) === 0) return null;
      while (Date.now() - killedAt < 60_000) {
        await sleep(50);
        if ((await held()) === 0) return Date.now() - killedAt;
      }
      return Infinity;
    };

    const started = Date.now();
    let kills = 0;
    let lastKillAt = started;
    const recoveries: Promise<number | null>[] = [];
    const remaining = async () =>
      (
        await database.rows<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled')`,
        )
      )[0]!.n;
    while ((!submitted || (await remaining()) > 0) && Date.now() - started < 120_000) {
      if (kills < 8 && Date.now() - lastKillAt > 2000) {
        const i = Math.floor(Math.random() * workers.length);
        workers[i]!.child.kill('SIGKILL');
        await workers[i]!.exited;
        kills++;
        lastKillAt = Date.now();
        recoveries.push(measureRecovery(workerIds[i]!, lastKillAt));
        workerIds[i] = `chaos-${i === 0 ? 'a' : 'b'}-${kills}`;
        workers[i] = await startWorker(env, workerIds[i]);
      }
      await sleep(100);
    }
    const finishedAt = Date.now();
    await submitting;
    expect(ids).toHaveLength(2000);
    expect(await remaining()).toBe(0);
    const recoveryMs = (await Promise.all(recoveries)).filter((r): r is number => r !== null);

    // 1. Every task reached a terminal state (above), and it is `succeeded`.
    const statuses = await database.rows<{ status: string; n: number }>(
      sql`SELECT status, count(*)::int AS n FROM tasks GROUP BY status`,
    );
    expect(statuses).toEqual([{ status: 'succeeded', n: 2000 }]);
    // 2. Exactly one terminal event per task.
    const ends = await database.rows<{ n: number; tasks: number }>(sql`
      SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled')`);
    expect(ends[0]).toEqual({ n: 2000, tasks: 2000 });
    // 3. Duplicates (attempts started more than once) are counted and reported.
    const [dup] = await database.rows<{ twice: number; extra: number }>(sql`
      SELECT count(*)::int AS twice, coalesce(sum(n - 1), 0)::int AS extra FROM (
        SELECT task_id, count(*) AS n FROM task_events WHERE kind = 'started' GROUP BY task_id HAVING count(*) > 1) d`);
    // 4. Nothing left running on an expired lease, nothing pending in Redis.
    const [stale] = await database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running' AND lease_expires_at < now()`,
    );
    expect(stale!.n).toBe(0);
    await sleep(500);
    const stats = (await api(port, 'GET', '/v1/system/queues')).body as unknown as {
      items: { pending: number; length: number }[];
    };
    expect(stats.items.reduce((n, q) => n + q.pending + q.length, 0)).toBe(0);
    // 5. Attempts started ≥ attempts finished, in total and for every task; the attempt
    // counter (raised when an attempt starts) agrees with the started events.
    const [attempts] = await database.rows<{ started: number; finished: number; counted: number }>(sql`
      SELECT (SELECT count(*)::int FROM task_events WHERE kind = 'started') AS started,
             (SELECT count(*)::int FROM task_events WHERE kind IN ('succeeded','failed','cancelled')) AS finished,
             (SELECT sum(attempts)::int FROM tasks) AS counted`);
    expect(attempts!.started).toBeGreaterThanOrEqual(attempts!.finished);
    expect(attempts!.started).toBe(2000 + dup!.extra);
    expect(attempts!.counted).toBe(attempts!.started);
    const overFinished = await database.rows<{ task_id: string }>(sql`
      SELECT task_id::text FROM task_events GROUP BY task_id
      HAVING count(*) FILTER (WHERE kind IN ('succeeded','failed','cancelled'))
           > count(*) FILTER (WHERE kind = 'started')`);
    expect(overFinished).toEqual([]);

    const report = {
      tasks: 2000,
      kills,
      duplicates: dup!.twice,
      extraStarts: dup!.extra,
      recoverMaxSeconds: recoveryMs.length ? Math.max(...recoveryMs) / 1000 : null,
      recoverMeanSeconds: recoveryMs.length
        ? Math.round(recoveryMs.reduce((a, b) => a + b, 0) / recoveryMs.length) / 1000
        : null,
      recoverSeconds: recoveryMs.map((ms) => ms / 1000),
      recoveryBoundSeconds: recoveryBoundMs / 1000,
      totalSeconds: (finishedAt - started) / 1000,
    };
    console.log(`chaos report: ${JSON.stringify(report)}`);
    expect(kills).toBeGreaterThanOrEqual(2);
    // Recovery was measured at least once (a killed worker had tasks in flight), and every
    // measured recovery stayed inside the bound.
    expect(recoveryMs.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...recoveryMs)).toBeLessThanOrEqual(recoveryBoundMs);
  });
});

describe('a worker frozen with SIGSTOP past CLAIM_IDLE_MS', () => {
  const prefix = testPrefix('freeze');
  afterAll(() => clearPrefix(prefix));

  it('loses its tasks to another worker; each late outcome is counted once, never written, never acknowledged', async () => {
    const claimIdleMs = 1000;
    const env = envFor(prefix, { CLAIM_IDLE_MS: String(claimIdleMs) });
    const serve = start(['serve'], env);
    const port = await listeningPort(serve);
    const frozen = await startWorker(env, 'frozen');
    const frozenMetrics = await workerMetricsPort(frozen);
    // Two tasks, one for each way the frozen worker can notice its loss on resume. Frozen
    // ≥ 1 s into them for 3 s: the short one (3.8 s) ends while the worker is frozen, so on
    // resume its outcome goes to the fenced write; the long one is still sleeping, so the
    // heartbeat finds the lease gone first and abandons it. The healthy worker's runs of both
    // (taken over ≥ 0.67 s into the freeze) are still going for a while after the resume.
    const freezeMs = 3 * claimIdleMs;
    const shortMs = 3800;
    const longMs = 8000;
    const submit = async (ms: number) =>
      String((await api(port, 'POST', '/v1/tasks', { type: 'demo.sleep', payload: { ms } })).body.id);
    const short = await submit(shortMs);
    const long = await submit(longMs);
    const shortStarted = Date.parse((await waitForStatus(port, short, ['running'])).startedAt!);
    await waitForStatus(port, long, ['running']);
    const healthy = await startWorker(env, 'healthy');
    const healthyMetrics = await workerMetricsPort(healthy);
    await sleep(Math.max(0, shortStarted + 1000 - Date.now()));

    frozen.child.kill('SIGSTOP');
    const frozenAt = Date.now();
    const startersOf = async (id: string) =>
      (await taskEvents(port, id)).filter((e) => e.kind === 'started').map((e) => e.workerId);
    // Frozen for at least 3× the claim idle time, and until the healthy worker has taken
    // both tasks over (bounded).
    await sleep(freezeMs);
    while (Date.now() - frozenAt < 8000) {
      if ((await startersOf(short)).length === 2 && (await startersOf(long)).length === 2) break;
      await sleep(100);
    }
    expect(await startersOf(short)).toEqual(['frozen', 'healthy']);
    expect(await startersOf(long)).toEqual(['frozen', 'healthy']);
    expect(await metricValue(healthyMetrics, 'procurator_late_results_discarded_total')).toBe(0);

    frozen.child.kill('SIGCONT');
    // The resumed worker finds out, by one path or the other, and counts each loss once.
    const deadline = Date.now() + 5000;
    let discarded = 0;
    while (Date.now() < deadline) {
      discarded = await metricValue(frozenMetrics, 'procurator_late_results_discarded_total');
      if (discarded >= 2) break;
      await sleep(50);
    }
    expect(discarded).toBe(2);
    // Right after: both tasks still belong to the healthy worker. Their rows run under the
    // healthy worker's lease (the frozen worker's fenced write changed nothing), and their
    // messages are still pending, delivered to the healthy worker (the frozen worker did not
    // XACK them: XACK takes no consumer name, and the ack script also deletes the entry). The
    // healthy worker's short run ends about 1.5 s after the resume: on a slow machine it may
    // have succeeded (and been acknowledged) by now, which the history below tells apart.
    const rows = await database.rows<{ id: string; status: string; lease_owner: string; attempts: number }>(
      sql`SELECT id::text, status, lease_owner, attempts FROM tasks WHERE id IN (${short}::uuid, ${long}::uuid)`,
    );
    const shortRow = rows.find((r) => r.id === short);
    const shortEnded = shortRow?.status === 'succeeded';
    expect(rows.sort((a, b) => (a.id === short ? -1 : b.id === short ? 1 : 0))).toEqual([
      shortEnded
        ? { id: short, status: 'succeeded', lease_owner: null, attempts: 2 }
        : { id: short, status: 'running', lease_owner: 'healthy', attempts: 2 },
      { id: long, status: 'running', lease_owner: 'healthy', attempts: 2 },
    ]);
    const pending = await pendingEntries(prefix);
    expect(pending.filter((p) => p.taskId === long).map((p) => p.consumer)).toEqual(['healthy']);
    const shortPending = pending.filter((p) => p.taskId === short).map((p) => p.consumer);
    expect(shortPending).toEqual(shortEnded && shortPending.length === 0 ? [] : ['healthy']);
    // Each path was taken once: the fenced write for the short task, the heartbeat for the long.
    const noticed = frozen.lines
      .filter((l) => l.includes('outcome discarded'))
      .map((l) => JSON.parse(l) as { taskId: string; noticedBy: string })
      .map((l) => `${l.taskId === short ? 'short' : l.taskId === long ? 'long' : l.taskId}:${l.noticedBy}`);
    expect(noticed.sort()).toEqual(['long:heartbeat', 'short:fenced_write']);
    // The frozen worker wrote no event after its two starts.
    const [frozenEvents] = await database.rows<{ kinds: string[] }>(
      sql`SELECT array_agg(kind ORDER BY id) AS kinds FROM task_events WHERE worker_id = 'frozen'`,
    );
    expect(frozenEvents!.kinds).toEqual(['started', 'started']);

    // The recorded results are the healthy worker's: each ran its full time and no more (the
    // frozen worker's short attempt, frozen 1 s into it for 3 s, would report over 4 s).
    const shortDone = await waitForStatus(port, short, ['succeeded']);
    const longDone = await waitForStatus(port, long, ['succeeded'], 20_000);
    for (const [done, ms] of [
      [shortDone, shortMs],
      [longDone, longMs],
    ] as const) {
      expect(done.attempts).toBe(2);
      const slept = (done.result as { sleptMs: number }).sleptMs;
      expect(slept).toBeGreaterThanOrEqual(ms - 50);
      expect(slept).toBeLessThan(ms + 150);
      const history = await taskEvents(port, done.id);
      expect(history.filter((e) => e.kind === 'succeeded').map((e) => e.workerId)).toEqual(['healthy']);
    }
    // Counted once each, not again later; nothing of ours left pending.
    await sleep(500);
    expect(await metricValue(frozenMetrics, 'procurator_late_results_discarded_total')).toBe(2);
    expect(await metricValue(healthyMetrics, 'procurator_late_results_discarded_total')).toBe(0);
    expect((await pendingEntries(prefix)).filter((p) => p.taskId === short || p.taskId === long)).toEqual([]);
  });
});

describe('crashes at exact points', () => {
  // One key prefix per scenario: a leftover message of one must not meet another's fail point.
  const prefixes: string[] = [];
  const fresh = () => {
    const p = testPrefix('points');
    prefixes.push(p);
    return p;
  };
  afterAll(async () => {
    for (const p of prefixes) await clearPrefix(p);
  });

  it('after the outcome commit, before XACK: the redelivered message is acknowledged without re-running', async () => {
    const env = envFor(fresh(), { CLAIM_IDLE_MS: '800' });
    const port = await listeningPort(start(['serve'], env));
    const dying = start(['worker'], {
      ...env,
      WORKER_ID: 'dies-after-outcome',
      FAILPOINTS: 'worker.after-outcome',
    });
    const res = await api(port, 'POST', '/v1/tasks', {
      type: 'demo.echo',
      payload: { point: 'after-outcome' },
    });
    const id = String(res.body.id);
    expect((await dying.exited).signal).toBe('SIGKILL');
    expect((await waitForStatus(port, id, ['succeeded'])).attempts).toBe(1);
    await startWorker(env, 'survivor');
    await sleep(2500); // claim idle + recovery: the survivor takes the message over and drops it
    const history = await taskEvents(port, id);
    expect(history.map((e) => e.kind)).toEqual(['submitted', 'started', 'succeeded']);
    const stats = (await api(port, 'GET', '/v1/system/queues')).body as unknown as {
      items: { pending: number }[];
    };
    expect(stats.items.reduce((n, q) => n + q.pending, 0)).toBe(0);
  });

  it('after the side effect, before the outcome: the attempt runs again and ends once', async () => {
    const env = envFor(fresh(), { CLAIM_IDLE_MS: '800' });
    const port = await listeningPort(start(['serve'], env));
    const dying = start(['worker'], {
      ...env,
      WORKER_ID: 'dies-after-execute',
      FAILPOINTS: 'worker.after-execute',
    });
    const res = await api(port, 'POST', '/v1/tasks', {
      type: 'demo.echo',
      payload: { point: 'after-execute' },
    });
    const id = String(res.body.id);
    expect((await dying.exited).signal).toBe('SIGKILL');
    await startWorker(env, 'survivor-2');
    const done = await waitForStatus(port, id, ['succeeded']);
    expect(done.attempts).toBe(2);
    const kinds = (await taskEvents(port, id)).map((e) => e.kind);
    expect(kinds).toEqual(['submitted', 'started', 'recovered', 'started', 'succeeded']);
  });

  it('in the API between commit and XADD: the reconciler enqueues the orphan', async () => {
    const env = envFor(fresh());
    const dyingApi = start(['serve'], { ...env, FAILPOINTS: 'api.after-commit' });
    const port = await listeningPort(dyingApi);
    const answer = await fetch(`http://127.0.0.1:${port}/v1/tasks`, {
      method: 'POST',
      headers: { 'X-API-Token': token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'demo.echo', payload: { orphan: true } }),
    }).catch((err: unknown) => err);
    expect(answer).toBeInstanceOf(Error); // the API died before answering
    expect((await dyingApi.exited).signal).toBe('SIGKILL');
    const [orphan] = await database.rows<{ id: string; status: string }>(
      sql`SELECT id::text, status FROM tasks WHERE payload @> '{"orphan": true}'`,
    );
    expect(orphan!.status).toBe('queued');
    const port2 = await listeningPort(start(['serve'], env));
    await startWorker(env, 'reconciling');
    const done = await waitForStatus(port2, orphan!.id, ['succeeded'], 15_000);
    expect(done.result).toEqual({ orphan: true });
  });

  it('a message that kills its worker every time is dead-lettered with a reason; others keep flowing', async () => {
    const env = envFor(fresh(), { CLAIM_IDLE_MS: '600' });
    const port = await listeningPort(start(['serve'], env));
    const res = await api(port, 'POST', '/v1/tasks', {
      type: 'demo.echo',
      payload: { poison: true },
      maxAttempts: 2,
    });
    const id = String(res.body.id);
    for (let i = 0; i < 2; i++) {
      const w = start(['worker'], { ...env, WORKER_ID: `poisoned-${i}`, FAILPOINTS: 'worker.after-execute' });
      expect((await w.exited).signal).toBe('SIGKILL');
    }
    await startWorker(env, 'after-poison');
    const dead = await waitForStatus(port, id, ['dead'], 15_000);
    expect(dead.lastError).toMatchObject({ code: 'worker_lost' });
    const ok = await api(port, 'POST', '/v1/tasks', { type: 'demo.echo', payload: { fine: true } });
    expect((await waitForStatus(port, String(ok.body.id), ['succeeded'])).result).toEqual({ fine: true });
  });
});

describe('graceful SIGTERM with 20 tasks in flight', () => {
  const prefix = testPrefix('term');
  afterAll(() => clearPrefix(prefix));

  it('stops reading, finishes all 20 within the grace period and exits 0', async () => {
    const env = envFor(prefix, { WORKER_CONCURRENCY: '20', SHUTDOWN_GRACE_MS: '10000' });
    const port = await listeningPort(start(['serve'], env));
    const worker = await startWorker(env, 'terminated');
    const tasks = Array.from({ length: 25 }, () => ({ type: 'demo.sleep', payload: { ms: 1200 } }));
    const res = await api(port, 'POST', '/v1/tasks/batch', { tasks });
    const ids = (res.body as unknown as { tasks: TaskView[] }).tasks.map((t) => t.id);
    const deadline = Date.now() + 10_000;
    let runningNow = 0;
    while (Date.now() < deadline) {
      runningNow = (
        await database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running'`)
      )[0]!.n;
      if (runningNow === 20) break;
      await sleep(20);
    }
    expect(runningNow).toBe(20);
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    const rows = await database.rows<{ status: string; n: number }>(sql`
      SELECT status, count(*)::int AS n FROM tasks
      WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
      GROUP BY status ORDER BY status`);
    // The 20 in flight finished; the 5 never read stay queued for the next worker.
    expect(rows).toEqual([
      { status: 'queued', n: 5 },
      { status: 'succeeded', n: 20 },
    ]);
  });
});

describe('SIGTERM on a worker process with a task longer than SHUTDOWN_GRACE_MS', () => {
  const prefix = testPrefix('grace');
  afterAll(() => clearPrefix(prefix));

  it('exits 0 within the grace period, leaves the task unacknowledged, and another worker completes it', async () => {
    const graceMs = 1000;
    const taskMs = 5000;
    const env = envFor(prefix, { SHUTDOWN_GRACE_MS: String(graceMs), CLAIM_IDLE_MS: '1000' });
    const port = await listeningPort(start(['serve'], env));
    const leaving = await startWorker(env, 'leaving');
    const res = await api(port, 'POST', '/v1/tasks', { type: 'demo.sleep', payload: { ms: taskMs } });
    const id = String(res.body.id);
    await waitForStatus(port, id, ['running']);

    const signalled = Date.now();
    leaving.child.kill('SIGTERM');
    const exit = await leaving.exited;
    const tookMs = Date.now() - signalled;
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the attempt through the grace period, then left: not at once, not late.
    expect(tookMs).toBeGreaterThanOrEqual(graceMs - 50);
    expect(tookMs).toBeLessThan(graceMs + 2000);
    expect(leaving.lines.some((l) => l.includes('grace period over'))).toBe(true);

    // Left unacknowledged: the message is still pending, delivered to the worker that left;
    // the row is still running on that worker's attempt; no outcome was written.
    expect((await pendingEntries(prefix)).filter((p) => p.taskId === id).map((p) => p.consumer)).toEqual([
      'leaving',
    ]);
    const [row] = await database.rows<{ status: string; lease_owner: string; attempts: number }>(
      sql`SELECT status, lease_owner, attempts FROM tasks WHERE id = ${id}::uuid`,
    );
    expect(row).toEqual({ status: 'running', lease_owner: 'leaving', attempts: 1 });
    expect((await taskEvents(port, id)).map((e) => e.kind)).toEqual(['submitted', 'started']);

    await startWorker(env, 'staying');
    const done = await waitForStatus(port, id, ['succeeded'], 20_000);
    expect(done.attempts).toBe(2);
    expect((done.result as { sleptMs: number }).sleptMs).toBeGreaterThanOrEqual(taskMs - 50);
    const history = await taskEvents(port, id);
    expect(history.filter((e) => e.kind === 'started').map((e) => e.workerId)).toEqual([
      'leaving',
      'staying',
    ]);
    expect(history.filter((e) => e.kind === 'succeeded').map((e) => e.workerId)).toEqual(['staying']);
    expect((await pendingEntries(prefix)).filter((p) => p.taskId === id)).toEqual([]);
  });
});

describe('SIGTERM on a worker whose PostgreSQL is unreachable', () => {
  const prefix = testPrefix('deadline');
  afterAll(() => clearPrefix(prefix));

  it('exits by itself within SHUTDOWN_GRACE_MS + 5 s, its outcome write abandoned at the deadline', async () => {
    const graceMs = 2000;
    const proxy = new TcpProxy(5432);
    await proxy.start();
    try {
      const env = envFor(prefix, { SHUTDOWN_GRACE_MS: String(graceMs), CLAIM_IDLE_MS: '30000' });
      const port = await listeningPort(start(['serve'], env));
      // The worker reaches PostgreSQL only through the proxy; the API directly.
      const cut = await startWorker(
        { ...env, DATABASE_URL: db.url.replace(/127\.0\.0\.1:5432/, `127.0.0.1:${proxy.port}`) },
        'cut-off',
      );
      const res = await api(port, 'POST', '/v1/tasks', { type: 'demo.sleep', payload: { ms: 800 } });
      await waitForStatus(port, String(res.body.id), ['running']);
      // PostgreSQL goes away while the attempt runs: its outcome write can only retry.
      await proxy.down();
      await sleep(1200);

      const signalled = Date.now();
      cut.child.kill('SIGTERM');
      await cut.exited;
      const tookMs = Date.now() - signalled;
      expect(tookMs).toBeLessThan(graceMs + 5000);
      expect(cut.lines.some((l) => l.includes('shutting down'))).toBe(true);
      expect(cut.lines.some((l) => l.includes('outcome not written before the shutdown deadline'))).toBe(
        true,
      );
    } finally {
      await proxy.close();
    }
  });
});
