import { Lease } from '../../lib/leadership/lease';
import { silentLogger } from '../../lib/logger';
import { EventBus } from '../../lib/observability/event-bus';
import type { TaskEventMap } from '../../lib/observability/task-events';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import { RetentionStore } from '../../lib/retention/retention-store';
import { newClaimIds } from '../../lib/tasks/attempt-batches';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { Pruner } from '../../worker/pruner';
import { benchDatabase, benchTask, seedHistory } from './bench-database';
import type { LoadFigures } from './load-loop';
import { loadWhile, sleep } from './load-loop';

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
    const historyEvents = await seedHistory(database, historyTasks);

    const tasks = new TaskStore(database, { listTimeoutMs: 5000 });
    const claims = new AttemptStore(database);
    const toClaim: string[] = [];
    const submit = async () => {
      const t = await tasks.insertOne(benchTask());
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
      historyEvents,
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
