import { sql } from 'drizzle-orm';
import { Lease } from '../../lib/leadership/lease';
import { newId } from '../../lib/ids';
import { silentLogger } from '../../lib/logger';
import { EventBus } from '../../lib/observability/event-bus';
import type { TaskEventMap } from '../../lib/observability/task-events';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import { RetentionStore } from '../../lib/retention/retention-store';
import { newClaimIds } from '../../lib/tasks/attempt-batches';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { Pruner } from '../../worker/pruner';
import { benchDatabase } from './bench-database';
import type { LoadFigures } from './load-loop';
import { loadWhile, sleep } from './load-loop';
import { newTaskTrace } from '../../lib/tasks/task-trace';

export interface PrunerImpactFigures {
  historyTasks: number;
  historyEvents: number;
  submitIdle: LoadFigures;
  submitPruning: LoadFigures;
  claimIdle: LoadFigures;
  claimPruning: LoadFigures;
  /** Tasks the pruner deleted during the measured window, and how fast. */
  prunedTasks: number;
  prunedPerSecond: number;
}

/**
 * Submissions and claims on the real statements (TaskStore.insertOne, AttemptStore.claim) over
 * a history of `historyTasks` ended tasks (4 events each) past their retention: for `seconds`
 * with nothing else running, then for `seconds` while the pruner deletes that history pass
 * after pass (no pause between passes: the worst case).
 */
export async function measurePrunerImpact(
  env: { pgAdminUrl: string },
  historyTasks: number,
  seconds: number,
): Promise<PrunerImpactFigures> {
  const db = await benchDatabase(env.pgAdminUrl, 20);
  const database = db.database;
  try {
    await database.rows(sql`
      INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by,
                         created_at, updated_at, finished_at)
      SELECT procurator_uuid_v7(), 'demo.echo', 'default', 'normal', 'succeeded', '{"n":1}'::jsonb, 5, 60000, 'bench',
             now() - interval '9 days', now() - interval '8 days' - g * interval '1 ms', now() - interval '8 days'
      FROM generate_series(1, ${historyTasks}::int) g`);
    await database.rows(sql`
      INSERT INTO task_events (id, task_id, at, kind, attempt, message)
      SELECT procurator_uuid_v7(), t.id, t.updated_at, k.kind, 1, 'history'
      FROM tasks t, (VALUES ('submitted'), ('started'), ('started'), ('succeeded')) AS k(kind)`);
    await database.rows(sql`VACUUM ANALYZE tasks`);
    await database.rows(sql`VACUUM ANALYZE task_events`);
    const [ev] = await database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM task_events`);

    const tasks = new TaskStore(database, { listTimeoutMs: 5000 });
    const claims = new AttemptStore(database);
    const toClaim: string[] = [];
    const submit = async () => {
      const t = await tasks.insertOne({
        id: newId(),
        type: 'demo.echo',
        queue: 'default',
        priority: 'normal',
        concurrencyKey: null,
        ...newTaskTrace(),
        payload: { data: 'x'.repeat(180) },
        maxAttempts: 5,
        timeoutMs: 60000,
        runAt: null,
        delayMs: 0,
        callbackUrl: null,
        metadata: {},
        createdBy: 'bench',
        idempotencyKey: null,
        requestHash: null,
      });
      if (t) toClaim.push(t.id);
    };
    const claim = async () => {
      const id = toClaim.shift();
      if (!id) return sleep(1);
      await claims.claim({ taskId: id, seq: 1, ids: newClaimIds() }, 'bench-worker', 30_000);
    };
    const window = () => sleep(seconds * 1000);
    const both = async () => {
      const w = window();
      const [s, c] = await Promise.all([loadWhile(8, submit, w), loadWhile(4, claim, w)]);
      return { s, c };
    };
    const idle = await both();

    const pruner = new Pruner({
      store: new RetentionStore(database),
      queue: new MemoryQueue(),
      lease: new Lease(database, { name: 'pruner', holder: 'bench', ttlMs: 60_000 }),
      retention: { succeededMs: 7 * 86_400_000, deadMs: 0, auditMs: 0, idempotencyTtlMs: 86_400_000 },
      events: new EventBus<TaskEventMap>(silentLogger()),
      logger: silentLogger(),
      intervalMs: 60_000,
    });
    let pruned = 0;
    let stop = false;
    const t0 = performance.now();
    let pruneSeconds = 0;
    const pruning = (async () => {
      while (!stop) {
        const n = (await pruner.tick()).tasks;
        pruned += n;
        if (n > 0) pruneSeconds = (performance.now() - t0) / 1000;
        else await sleep(50);
      }
    })();
    const busy = await both();
    stop = true;
    await pruning;
    return {
      historyTasks,
      historyEvents: ev!.n,
      submitIdle: idle.s,
      submitPruning: busy.s,
      claimIdle: idle.c,
      claimPruning: busy.c,
      prunedTasks: pruned,
      prunedPerSecond: pruned / pruneSeconds,
    };
  } finally {
    await db.drop();
  }
}
