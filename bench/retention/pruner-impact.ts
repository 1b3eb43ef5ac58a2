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
import { median } from '../report/median';

export interface PrunerImpactFigures {
  historyTasks: number;
  historyEvents: number;
  /** Medians over the windows of each kind. */
  submitIdle: LoadFigures;
  submitPruning: LoadFigures;
  claimIdle: LoadFigures;
  claimPruning: LoadFigures;
  /**
   * Per pruning window, its throughput against the mean of the idle windows on either side
   * (the tables grow and change through the run: a later window is slower for that alone);
   * the median of those.
   */
  submitRatio: number;
  claimRatio: number;
  /** Idle windows against each other (the second half against the first): the noise floor. */
  idleDrift: number;
  /** Tasks the pruner deleted during the pruning windows, and how fast while it ran. */
  prunedTasks: number;
  prunedPerSecond: number;
}

/**
 * Submissions and claims on the real statements (TaskStore.insertOne, AttemptStore.claim) over
 * a history of `historyTasks` ended tasks (4 events each) past their retention, in `pairs`
 * pairs of `seconds`-long windows — idle, pruning, idle, pruning, …, idle — the pruner working
 * the history off in the pruning windows as a worker runs it (pass after pass, resting as its
 * backlog throttle says, or as `backlogFactor` sets it: 0 is flat out) and stopped in the idle
 * ones.
 */
export async function measurePrunerImpact(
  env: { pgAdminUrl: string },
  historyTasks: number,
  seconds: number,
  pairs = 3,
  backlogFactor?: number,
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
    const both = async () => {
      const w = sleep(seconds * 1000);
      const [s, c] = await Promise.all([loadWhile(8, submit, w), loadWhile(4, claim, w)]);
      return { s, c };
    };

    const events = new EventBus<TaskEventMap>(silentLogger());
    let pruned = 0;
    events.on('rows_pruned', ({ table, count }) => {
      if (table === 'tasks') pruned += count;
    });
    const pruner = new Pruner({
      store: new RetentionStore(database),
      queue: new MemoryQueue(),
      lease: new Lease(database, { name: 'pruner', holder: 'bench', ttlMs: 60_000 }),
      retention: { succeededMs: 7 * 86_400_000, deadMs: 0, auditMs: 0, idempotencyTtlMs: 86_400_000 },
      events,
      logger: silentLogger(),
      intervalMs: 60_000,
      backlogFactor,
    });
    const idle = [await both()];
    const busy: Awaited<ReturnType<typeof both>>[] = [];
    let pruningSeconds = 0;
    for (let i = 0; i < pairs; i++) {
      const t0 = performance.now();
      pruner.start();
      busy.push(await both());
      await pruner.stop();
      pruningSeconds += (performance.now() - t0) / 1000;
      idle.push(await both());
    }
    const ratio = (of: (w: (typeof idle)[number]) => LoadFigures) =>
      median(
        busy.map((b, i) => of(b).perSecond / ((of(idle[i]!).perSecond + of(idle[i + 1]!).perSecond) / 2)),
      );
    const half = Math.ceil(idle.length / 2);
    const idleRate = (ws: typeof idle) => ws.reduce((sum, w) => sum + w.s.perSecond, 0) / ws.length;
    const medianOf = (ws: typeof idle, of: (w: (typeof idle)[number]) => LoadFigures): LoadFigures => ({
      count: median(ws.map((w) => of(w).count)),
      perSecond: median(ws.map((w) => of(w).perSecond)),
      p50Ms: median(ws.map((w) => of(w).p50Ms)),
      p99Ms: median(ws.map((w) => of(w).p99Ms)),
    });
    return {
      historyTasks,
      historyEvents,
      submitIdle: medianOf(idle, (w) => w.s),
      submitPruning: medianOf(busy, (w) => w.s),
      claimIdle: medianOf(idle, (w) => w.c),
      claimPruning: medianOf(busy, (w) => w.c),
      submitRatio: ratio((w) => w.s),
      claimRatio: ratio((w) => w.c),
      idleDrift: idleRate(idle.slice(half)) / idleRate(idle.slice(0, half)),
      prunedTasks: pruned,
      prunedPerSecond: pruned / pruningSeconds,
    };
  } finally {
    await db.drop();
  }
}
