import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Database } from '../../lib/db/client';
import { Lease } from '../../lib/leadership/lease';
import { silentLogger } from '../../lib/logger';
import { EventBus } from '../../lib/observability/event-bus';
import { attachTaskMetrics, createMetrics } from '../../lib/observability/metrics';
import type { TaskEventMap } from '../../lib/observability/task-events';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import { RetentionStore } from '../../lib/retention/retention-store';
import type { TaskStatus } from '../../lib/tasks/task';
import type { Logger } from '../../lib/logger';
import type { PrunerDeps, Retention } from '../../worker/pruner';
import { BacklogThrottle, Pruner } from '../../worker/pruner';
import { openTestPglite } from '../helpers/databases';
import { rowsOf, seedTask } from '../helpers/history';
import { captureLogger } from '../helpers/log-capture';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let database: Database;
beforeEach(async () => {
  database = await openTestPglite();
});
afterEach(async () => {
  await database.close();
});

const retention: Retention = {
  succeededMs: 2 * HOUR,
  deadMs: DAY,
  auditMs: 30 * DAY,
  idempotencyTtlMs: HOUR,
};

function pruner(o: Partial<PrunerDeps> & { holder?: string; logger?: Logger } = {}) {
  const events = new EventBus<TaskEventMap>(silentLogger());
  const metrics = createMetrics(undefined, false);
  attachTaskMetrics(events, metrics);
  const queue = new MemoryQueue();
  const p = new Pruner({
    store: new RetentionStore(database),
    queue,
    lease: new Lease(database, { name: 'pruner', holder: o.holder ?? 'w1', ttlMs: 60_000 }),
    retention,
    events,
    logger: o.logger ?? silentLogger(),
    intervalMs: 60_000,
    pauseMs: 0,
    ...o,
  });
  return { pruner: p, metrics, queue };
}

async function auditIdAt(agoMs: number): Promise<void> {
  // An id made at that time (UUIDv7 of its `at`), as the audit store makes them.
  await database.rows(sql`
    INSERT INTO audit_log (id, at, actor_id, action)
    SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 19))::uuid,
           t, 'actor', 'user.create'
    FROM (SELECT now() - ${agoMs} * interval '1 millisecond' AS t) x`);
}

async function auditCount(): Promise<number> {
  const [r] = await database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM audit_log`);
  return r!.n;
}

describe('the backlog throttle', () => {
  it('rests pauseMs while keeping up, and factor × the statement’s time while catching up', () => {
    const t = new BacklogThrottle(60_000);
    expect(t.restMs(null, 40, 100)).toBe(100);
    expect(t.restMs(59_000, 40, 100)).toBe(100);
    expect(t.restMs(3_600_000, 40, 100)).toBe(760);
    expect(t.restMs(3_600_000, 400, 100)).toBe(7600);
    // Turned off (PrunerDeps.backlogFactor 0): as fast as pauseMs allows.
    expect(new BacklogThrottle(60_000, 0).restMs(3_600_000, 400, 100)).toBe(100);
  });

  it('halves its factor after each pass that did not gain on the line, down to none, and grows it back when it gains', () => {
    const t = new BacklogThrottle(60_000);
    t.passEnded(20 * HOUR);
    expect(t.factor).toBe(19);
    t.passEnded(20 * HOUR + 1000); // history ends faster than it deletes it at this pace
    expect(t.factor).toBe(9.5);
    for (let h = 21; h <= 26; h++) t.passEnded(h * HOUR);
    expect(t.factor).toBe(0);
    expect(t.restMs(26 * HOUR, 400, 100)).toBe(100); // full speed: only the least rest
    t.passEnded(25 * HOUR); // gaining again
    expect(t.factor).toBe(1);
    for (let h = 24; h >= 20; h--) t.passEnded(h * HOUR);
    expect(t.factor).toBe(19);
    t.passEnded(25 * HOUR);
    t.caughtUp();
    expect(t.factor).toBe(19);
  });
});

describe('the pruner', () => {
  it('deletes ended tasks past their retention, with their events and callback deliveries; never a live one', async () => {
    const cases: { status: TaskStatus; agoMs: number; pruned: boolean }[] = [
      { status: 'succeeded', agoMs: 3 * HOUR, pruned: true },
      { status: 'succeeded', agoMs: HOUR, pruned: false },
      { status: 'cancelled', agoMs: 3 * HOUR, pruned: true },
      { status: 'discarded', agoMs: 3 * HOUR, pruned: true },
      { status: 'dead', agoMs: 3 * HOUR, pruned: false }, // dead are kept a day here
      { status: 'dead', agoMs: 2 * DAY, pruned: true },
      // Live tasks, however old, are never pruned.
      ...(['waiting', 'scheduled', 'queued', 'running', 'retrying'] as const).map((status) => ({
        status,
        agoMs: 400 * DAY,
        pruned: false,
      })),
    ];
    const ids = await Promise.all(cases.map((c) => seedTask(database, c)));
    const { pruner: p } = pruner();
    const counts = await p.tick();
    expect(counts).toEqual({
      tasks: 4,
      task_events: 8,
      callback_deliveries: 4,
      task_dependencies: 0,
      audit_log: 0,
    });
    for (const [i, c] of cases.entries()) {
      const left = await rowsOf(database, ids[i]!);
      const expected = c.pruned
        ? { tasks: 0, events: 0, callbacks: 0 }
        : { tasks: 1, events: 2, callbacks: 1 };
      expect({ ...c, left }).toEqual({ ...c, left: expected });
    }
  });

  it('keeps what a retention of 0 keeps, and a task whose Idempotency-Key is still remembered', async () => {
    const old = await seedTask(database, { status: 'succeeded', agoMs: 100 * DAY });
    const dead = await seedTask(database, { status: 'dead', agoMs: 100 * DAY });
    // Retention (2 h) shorter than the key's life (here 3 h): the key outlives the retention.
    const keyed = await seedTask(database, { status: 'succeeded', agoMs: 2.5 * HOUR, idempotencyKey: 'k1' });
    await auditIdAt(400 * DAY);
    const { pruner: p } = pruner({
      retention: { ...retention, succeededMs: 0, auditMs: 0, idempotencyTtlMs: 3 * HOUR },
    });
    expect(await p.tick()).toMatchObject({ tasks: 1, audit_log: 0 });
    expect((await rowsOf(database, old)).tasks).toBe(1);
    expect((await rowsOf(database, dead)).tasks).toBe(0);
    expect(await auditCount()).toBe(1);

    const { pruner: q } = pruner({ holder: 'w1', retention: { ...retention, idempotencyTtlMs: 3 * HOUR } });
    await q.tick();
    expect((await rowsOf(database, keyed)).tasks).toBe(1);
    const { pruner: r } = pruner({ holder: 'w1', retention: { ...retention, idempotencyTtlMs: 2 * HOUR } });
    await r.tick();
    expect((await rowsOf(database, keyed)).tasks).toBe(0);
  });

  it('deletes audit entries past RETENTION_AUDIT_MS only', async () => {
    await auditIdAt(31 * DAY);
    await auditIdAt(29 * DAY);
    await auditIdAt(0);
    const { pruner: p } = pruner();
    expect((await p.tick()).audit_log).toBe(1);
    expect(await auditCount()).toBe(2);
  });

  it('works in bounded batches: at most batchSize rows per statement, maxBatchesPerPass per pass', async () => {
    for (let i = 0; i < 25; i++) await seedTask(database, { status: 'succeeded', agoMs: DAY });
    const limits: number[] = [];
    const store = new RetentionStore(database);
    const { pruner: p } = pruner({
      batchSize: 10,
      maxBatchesPerPass: 2,
      store: {
        pruneTasks: async (...args) => {
          limits.push(args[3]);
          return store.pruneTasks(...args);
        },
        pruneAudit: (...args) => store.pruneAudit(...args),
        autovacuumRuns: () => store.autovacuumRuns(),
        vacuum: (tables) => store.vacuum(tables),
      },
    });
    expect((await p.tick()).tasks).toBe(20); // the pass stops at its bound…
    expect((await p.tick()).tasks).toBe(5); // …and the next goes on
    expect((await p.tick()).tasks).toBe(0);
    expect(new Set(limits)).toEqual(new Set([10]));
  });

  it('counts procurator_pruned_total{table}, logs each pass and the retention at start, and drops dead letters', async () => {
    const dead = await seedTask(database, { status: 'dead', agoMs: 2 * DAY });
    const kept = await seedTask(database, { status: 'dead', agoMs: HOUR });
    const log = captureLogger('info');
    const { pruner: p, metrics, queue } = pruner({ logger: log.logger });
    for (const taskId of [dead, kept]) {
      await queue.deadLetter(null, 1, {
        taskId,
        type: 'demo.echo',
        queue: 'default',
        payload: { big: 'x'.repeat(100) },
        error: { message: 'no', code: 'failed' },
        attempts: 1,
      });
    }
    p.start(); // logs the retention in force, then runs its first pass at once
    await vi.waitFor(() => expect(log.text()).toContain('pruned what retention allows'));
    await p.stop();
    expect([...queue.deadLetters.keys()]).toEqual([kept]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('procurator_pruned_total{table="tasks"} 1');
    expect(text).toContain('procurator_pruned_total{table="task_events"} 2');
    expect(text).toContain('procurator_pruned_total{table="callback_deliveries"} 1');
    const lines = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => String(l.msg).startsWith('retention in force'))).toMatchObject({
      retention: { succeeded: `${2 * HOUR} ms`, dead: `${DAY} ms` },
    });
    expect(lines.find((l) => l.msg === 'pruned what retention allows')).toMatchObject({
      removed: { tasks: 1, task_events: 2, callback_deliveries: 1, task_dependencies: 0, audit_log: 0 },
    });
  });

  it('rests between statements, and a stop ends a pass at the next statement instead of waiting it out', async () => {
    for (let i = 0; i < 3; i++) await seedTask(database, { status: 'succeeded', agoMs: DAY });
    const log = captureLogger('info');
    const { pruner: p } = pruner({ batchSize: 1, pauseMs: 60_000, logger: log.logger });
    p.start();
    await vi.waitFor(async () => expect(await database.rows(sql`SELECT 1 FROM tasks`)).toHaveLength(2));
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await database.rows(sql`SELECT 1 FROM tasks`)).toHaveLength(2);
  });

  it('works a backlog off pass after pass, without waiting PRUNE_INTERVAL_MS between them', async () => {
    for (let i = 0; i < 3; i++) await seedTask(database, { status: 'succeeded', agoMs: DAY });
    const { pruner: p } = pruner({ batchSize: 1, maxBatchesPerPass: 1, intervalMs: 600_000 });
    p.start();
    await vi.waitFor(async () => expect(await database.rows(sql`SELECT 1 FROM tasks`)).toHaveLength(0), {
      timeout: 5000,
    });
    await p.stop();
  });

  it('working off a backlog rests 19 times as long as each statement took; keeping up, only pauseMs', async () => {
    const store = new RetentionStore(database);
    const slowStore = (calls: { at: number; behindMs: number | null }[]): PrunerDeps['store'] => ({
      pruneTasks: async (...args) => {
        await new Promise((r) => setTimeout(r, 50)); // a statement that takes 50 ms
        const pruned = await store.pruneTasks(...args);
        if (args[0] === 'succeeded') calls.push({ at: Date.now(), behindMs: pruned.behindMs });
        return pruned;
      },
      pruneAudit: (...args) => store.pruneAudit(...args),
      autovacuumRuns: () => store.autovacuumRuns(),
      vacuum: (tables) => store.vacuum(tables),
    });
    const gaps = (calls: { at: number }[]) => calls.slice(1).map((c, i) => c.at - calls[i]!.at - 50);

    // Ended a day ago under a 2 h retention: 22 h behind the line.
    for (let i = 0; i < 4; i++) await seedTask(database, { status: 'succeeded', agoMs: DAY });
    const behind: { at: number; behindMs: number | null }[] = [];
    await pruner({ batchSize: 1, store: slowStore(behind) }).pruner.tick();
    expect(behind[0]!.behindMs).toBeGreaterThan(21 * HOUR);
    expect(behind).toHaveLength(5); // 4 statements of one task, and one that finds none
    for (const gap of gaps(behind.slice(0, 4))) expect(gap).toBeGreaterThanOrEqual(900);

    // Ended just past the line: the pruner keeps up, and does not rest beyond pauseMs (0 here).
    for (let i = 0; i < 4; i++) await seedTask(database, { status: 'succeeded', agoMs: 2 * HOUR + 5000 });
    const keeping: { at: number; behindMs: number | null }[] = [];
    await pruner({ batchSize: 1, store: slowStore(keeping) }).pruner.tick();
    expect(keeping[0]!.behindMs).toBeLessThan(60_000);
    // Well under the rests above, with room for a slow machine's statements.
    for (const gap of gaps(keeping.slice(0, 4))) expect(gap).toBeLessThan(500);
  });

  it('runs on one worker at a time: the lease holder prunes, another waits until it is released', async () => {
    const { pruner: a } = pruner({ holder: 'w1' });
    const { pruner: b } = pruner({ holder: 'w2' });
    await seedTask(database, { status: 'succeeded', agoMs: DAY });
    expect((await a.tick()).tasks).toBe(1);
    await seedTask(database, { status: 'succeeded', agoMs: DAY });
    expect((await b.tick()).tasks).toBe(0); // w1 still holds the lease
    await a.stop(); // gives it up
    expect((await b.tick()).tasks).toBe(1);
    const holders = await database.rows<{ holder: string }>(
      sql`SELECT holder FROM leases WHERE name = 'pruner'`,
    );
    expect(holders).toEqual([{ holder: 'w2' }]);
  });

  it('vacuums the tables it deleted from where no autovacuum runs (PGlite), so they stop growing', async () => {
    // 2,000 ended tasks of about 600 bytes each, pruned, four times over: the heap stays the
    // size of one round when the pruner vacuums, and grows by a round each time when it does not.
    const round = async (p: Pruner) => {
      await database.rows(sql`
        INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by,
                           created_at, updated_at, finished_at)
        SELECT procurator_uuid_v7(), 'demo.echo', 'default', 'normal', 'succeeded',
               jsonb_build_object('pad', repeat('x', 600)), 5, 60000, 'seeder',
               now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
        FROM generate_series(1, 2000)`);
      while ((await p.tick()).tasks > 0);
      const [row] = await database.rows<{ bytes: string }>(
        sql`SELECT pg_relation_size('tasks')::text AS bytes`,
      );
      return Number(row!.bytes);
    };
    const log = captureLogger('info');
    const vacuuming = pruner({ batchSize: 1000, vacuumEveryMs: 0, logger: log.logger }).pruner;
    const vacuumed: number[] = [];
    for (let i = 0; i < 4; i++) vacuumed.push(await round(vacuuming));
    expect(await vacuuming.tick()).toMatchObject({ tasks: 0 });
    expect(log.text()).toContain('vacuumed after pruning');
    expect(vacuumed[3]!).toBeLessThanOrEqual(vacuumed[0]! * 1.25);

    await database.close();
    database = await openTestPglite();
    const real = new RetentionStore(database);
    const trusting = pruner({
      batchSize: 1000,
      vacuumEveryMs: 0,
      store: {
        pruneTasks: (...args) => real.pruneTasks(...args),
        pruneAudit: (...args) => real.pruneAudit(...args),
        autovacuumRuns: () => Promise.resolve(true),
        vacuum: () => Promise.reject(new Error('must not vacuum where autovacuum runs')),
      },
    }).pruner;
    const unvacuumed: number[] = [];
    for (let i = 0; i < 4; i++) unvacuumed.push(await round(trusting));
    expect(unvacuumed[3]!).toBeGreaterThanOrEqual(unvacuumed[0]! * 2);
  });
});
