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
import { testPrefix } from '../helpers/redis';

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
    const env = envFor(prefix, { WORKER_CONCURRENCY: '16' });
    const serve = start(['serve'], env);
    const port = await listeningPort(serve);
    const workers = [await startWorker(env, 'chaos-a-0'), await startWorker(env, 'chaos-b-0')];

    const ids: string[] = [];
    for (let b = 0; b < 2; b++) {
      const tasks = Array.from({ length: 1000 }, () => ({
        type: 'demo.sleep',
        payload: { ms: 10 + Math.floor(Math.random() * 190) },
        maxAttempts: 10,
      }));
      const res = await api(port, 'POST', '/v1/tasks/batch', { tasks });
      expect(res.status).toBe(202);
      ids.push(...(res.body as unknown as { tasks: TaskView[] }).tasks.map((t) => t.id));
    }

    const started = Date.now();
    let kills = 0;
    let lastKillAt = started;
    const remaining = async () =>
      (
        await database.rows<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled')`,
        )
      )[0]!.n;
    while ((await remaining()) > 0 && Date.now() - started < 120_000) {
      if (kills < 8 && Date.now() - lastKillAt > 2000) {
        const i = Math.floor(Math.random() * workers.length);
        workers[i]!.child.kill('SIGKILL');
        await workers[i]!.exited;
        kills++;
        lastKillAt = Date.now();
        workers[i] = await startWorker(env, `chaos-${i === 0 ? 'a' : 'b'}-${kills}`);
      }
      await sleep(100);
    }
    const finishedAt = Date.now();
    expect(await remaining()).toBe(0);

    const statuses = await database.rows<{ status: string; n: number }>(
      sql`SELECT status, count(*)::int AS n FROM tasks GROUP BY status`,
    );
    expect(statuses).toEqual([{ status: 'succeeded', n: 2000 }]);
    const ends = await database.rows<{ n: number; tasks: number }>(sql`
      SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS tasks FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled')`);
    expect(ends[0]).toEqual({ n: 2000, tasks: 2000 });
    const [dup] = await database.rows<{ twice: number; extra: number }>(sql`
      SELECT count(*)::int AS twice, coalesce(sum(n - 1), 0)::int AS extra FROM (
        SELECT task_id, count(*) AS n FROM task_events WHERE kind = 'started' GROUP BY task_id HAVING count(*) > 1) d`);
    const [stale] = await database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'running' AND lease_expires_at < now()`,
    );
    expect(stale!.n).toBe(0);
    await sleep(500);
    const stats = (await api(port, 'GET', '/v1/system/queues')).body as unknown as {
      items: { pending: number; length: number }[];
    };
    expect(stats.items.reduce((n, q) => n + q.pending + q.length, 0)).toBe(0);
    const report = {
      tasks: 2000,
      kills,
      ranTwiceOrMore: dup!.twice,
      extraStarts: dup!.extra,
      totalSeconds: (finishedAt - started) / 1000,
      recoverySecondsAfterLastKill: (finishedAt - lastKillAt) / 1000,
    };
    console.log(`chaos report: ${JSON.stringify(report)}`);
    expect(kills).toBeGreaterThanOrEqual(2);
  });
});

describe('a worker frozen with SIGSTOP past CLAIM_IDLE_MS', () => {
  const prefix = testPrefix('freeze');
  afterAll(() => clearPrefix(prefix));

  it('loses its task to another worker, and its late outcome is discarded', async () => {
    const env = envFor(prefix, { CLAIM_IDLE_MS: '1000' });
    const serve = start(['serve'], env);
    const port = await listeningPort(serve);
    const frozen = await startWorker(env, 'frozen');
    const res = await api(port, 'POST', '/v1/tasks', { type: 'demo.sleep', payload: { ms: 2500 } });
    const id = String(res.body.id);
    await waitForStatus(port, id, ['running']);
    await startWorker(env, 'healthy');
    frozen.child.kill('SIGSTOP');
    await sleep(3000); // 3× the claim idle time
    const during = await taskEvents(port, id);
    expect(during.filter((e) => e.kind === 'started').map((e) => e.workerId)).toEqual(['frozen', 'healthy']);
    frozen.child.kill('SIGCONT');
    const done = await waitForStatus(port, id, ['succeeded']);
    await sleep(1000); // give the resumed worker time to try its late write
    const history = await taskEvents(port, id);
    expect(history.filter((e) => e.kind === 'succeeded').map((e) => e.workerId)).toEqual(['healthy']);
    expect(done.attempts).toBe(2);
    // The resumed worker noticed it had lost the lease and wrote nothing.
    await frozen.waitFor((l) => /lease lost/.test(l), 5000);
    const stats = (await api(port, 'GET', '/v1/system/queues')).body as unknown as {
      items: { pending: number }[];
    };
    expect(stats.items.reduce((n, q) => n + q.pending, 0)).toBe(0);
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
