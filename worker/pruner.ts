import type { Lease } from '../lib/leadership/lease';
import type { Logger } from '../lib/logger';
import type { TaskEventMap, TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { EndedStatus, RetentionStore } from '../lib/retention/retention-store';
import { setTimeout as sleep } from 'node:timers/promises';
import { PeriodicComponent } from './periodic';

/** How long each kind of history is kept, in ms; 0 keeps it for ever. */
export interface Retention {
  succeededMs: number;
  deadMs: number;
  auditMs: number;
  /** Tasks keep their Idempotency-Key at least this long, whatever their retention. */
  idempotencyTtlMs: number;
}

export interface PrunerDeps {
  store: Pick<RetentionStore, 'pruneTasks' | 'pruneAudit' | 'autovacuumRuns' | 'vacuum'>;
  queue: Pick<QueueBackend, 'removeDeadLetters'>;
  /** One pruner at a time across all workers. */
  lease: Lease;
  retention: Retention;
  events: TaskEvents;
  logger: Logger;
  intervalMs: number;
  /** Rows per statement. */
  batchSize?: number;
  /** Statements per target (a status, the audit log) and pass; the rest waits for the next pass. */
  maxBatchesPerPass?: number;
  /**
   * Least rest between two statements (default 100 ms). Working off a backlog the pruner
   * rests longer, in proportion to how long its statements take (see `BacklogThrottle`).
   */
  pauseMs?: number;
  /**
   * How many times as long as a statement took the pruner rests at most while it works off a
   * backlog (default BacklogThrottle.MAX_FACTOR; 0: only `pauseMs`, as fast as it can).
   */
  backlogFactor?: number;
  /**
   * Where no autovacuum runs, the least time between two VACUUMs the pruner makes itself
   * (default VACUUM_EVERY_MS).
   */
  vacuumEveryMs?: number;
}

/**
 * Without autovacuum, deleted rows keep their space until a VACUUM: the tables would grow as
 * if nothing were deleted. Every 10 s at most bounds what vacuuming costs a busy database.
 */
export const VACUUM_EVERY_MS = 10_000;

/**
 * How the pruner shares the database while it works off a backlog (README, "Retention"). A
 * pruner less than `catchingUpMs` behind the retention line is keeping up: what crossed the
 * line since the last pass is little, and it deletes it at once, resting only `pauseMs`
 * between statements. Further behind (the first passes after an upgrade, or after the
 * workers were down) it is catching up: it rests `factor` times as long as its last
 * statement took — at most 1/20 of the time deleting — so submissions and claims keep the
 * machine; statements slowed by a busy database make the rests longer too. The factor
 * starts at MAX_FACTOR and halves after each pass that did not bring the pruner closer to
 * the line (history ends faster than it deletes it at that pace), down to no throttle at
 * all, and doubles back after each pass that did: a backlog is always worked off.
 */
export class BacklogThrottle {
  static readonly MAX_FACTOR = 19;
  factor: number;
  /** How far behind the line the last pass ended, ms (undefined: not catching up). */
  private lastBehindMs: number | undefined;

  constructor(
    private readonly catchingUpMs: number,
    private readonly maxFactor = BacklogThrottle.MAX_FACTOR,
  ) {
    this.factor = maxFactor;
  }

  /** The rest before the next statement, given how far behind the last one left the pruner. */
  restMs(behindMs: number | null, statementMs: number, pauseMs: number): number {
    if (behindMs === null || behindMs < this.catchingUpMs) return pauseMs;
    return Math.max(pauseMs, Math.round(this.factor * statementMs));
  }

  /** After a pass of one target that stopped at its bound, `behindMs` still to delete. */
  passEnded(behindMs: number | null): void {
    if (behindMs === null || behindMs < this.catchingUpMs) {
      this.lastBehindMs = undefined;
      return;
    }
    if (this.lastBehindMs !== undefined) {
      if (behindMs >= this.lastBehindMs) this.factor = this.factor < 0.5 ? 0 : this.factor / 2;
      else this.factor = Math.min(this.maxFactor, Math.max(1, this.factor * 2));
    }
    this.lastBehindMs = behindMs;
  }

  /** A pass that deleted all there was: the next backlog starts throttled again. */
  caughtUp(): void {
    this.lastBehindMs = undefined;
    this.factor = this.maxFactor;
  }
}

export type PrunedTable = TaskEventMap['rows_pruned']['table'];
export type PrunedCounts = Record<PrunedTable, number>;

/**
 * Deletes what retention allows (README, "Retention"): ended tasks with their events and
 * callback deliveries, dead-letter records of the dead ones, and old audit entries. One
 * worker at a time (the `pruner` lease, renewed before every batch), in bounded batches, and
 * a bounded number of them per pass — the first pass after an upgrade, facing years of
 * history, does the same bounded work as every other and leaves the rest to the next, which
 * then follows soon instead of a PRUNE_INTERVAL_MS later.
 */
export class Pruner extends PeriodicComponent {
  /** Whether the last pass stopped at its bound with more to delete. */
  private backlog = false;
  /** Aborted by stop(): a pass in progress ends after its current statement. */
  private stopping = new AbortController();
  /** Whether this pruner vacuums what it deleted from (decided at its first pass). */
  private vacuums: boolean | undefined;
  private lastVacuumAt = 0;
  /** Tables deleted from since the last VACUUM. */
  private readonly unvacuumed = new Set<PrunedTable>();
  /** Per ended status, how hard the pruner works off its backlog. */
  private readonly throttles = new Map<EndedStatus, BacklogThrottle>();
  /** The rest the last statement of the last pass was followed by. */
  private lastRestMs = 0;

  constructor(private readonly d: PrunerDeps) {
    super('pruner', d.intervalMs, d.logger);
  }

  /**
   * Further behind the retention line than this, the pruner is working off a backlog: two
   * intervals' worth of history, and at least a minute's.
   */
  private get catchingUpMs(): number {
    return Math.max(2 * this.intervalMs, 60_000);
  }

  private throttleOf(status: EndedStatus): BacklogThrottle {
    let t = this.throttles.get(status);
    if (!t) this.throttles.set(status, (t = new BacklogThrottle(this.catchingUpMs, this.d.backlogFactor)));
    return t;
  }

  override start(): void {
    const r = this.d.retention;
    const kept = (v: number) => (v === 0 ? 'kept' : `${v} ms`);
    this.d.logger.info(
      {
        retention: {
          succeeded: kept(r.succeededMs),
          dead: kept(r.deadMs),
          audit: kept(r.auditMs),
          idempotencyKeys: `${r.idempotencyTtlMs} ms`,
        },
        intervalMs: this.intervalMs,
      },
      'retention in force (0 keeps): ended tasks, their events and callback deliveries, and audit entries older than this are deleted',
    );
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    super.start();
  }

  async tick(): Promise<PrunedCounts> {
    const counts: PrunedCounts = {
      tasks: 0,
      task_events: 0,
      callback_deliveries: 0,
      task_dependencies: 0,
      audit_log: 0,
    };
    if (!(await this.d.lease.acquire())) return counts;
    const r = this.d.retention;
    const targets: { status: EndedStatus; ageMs: number }[] = [
      { status: 'succeeded', ageMs: r.succeededMs },
      { status: 'cancelled', ageMs: r.succeededMs },
      { status: 'discarded', ageMs: r.succeededMs },
      { status: 'dead', ageMs: r.deadMs },
    ];
    let more = false;
    let leaseLost = false;
    const { signal } = this.stopping;
    const pauseMs = this.d.pauseMs ?? 100;
    let slowest = 0;
    /** Statements of one target until it runs out or its bound; whether it ran out. */
    const batches = async (
      step: () => Promise<{ n: number; behindMs: number | null }>,
      throttle?: BacklogThrottle,
    ): Promise<boolean> => {
      const max = this.d.maxBatchesPerPass ?? 40;
      let behindMs: number | null = null;
      let restMs = pauseMs;
      for (let i = 0; i < max; i++) {
        if (i > 0) {
          await sleep(restMs, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) {
            more = true;
            return false;
          }
          if (!(await this.d.lease.acquire())) {
            leaseLost = true;
            return false;
          }
        }
        const started = performance.now();
        const done = await step();
        const statementMs = performance.now() - started;
        behindMs = done.behindMs;
        if (done.n < this.batchSize) return true;
        restMs = throttle ? throttle.restMs(behindMs, statementMs, pauseMs) : pauseMs;
      }
      more = true;
      throttle?.passEnded(behindMs);
      slowest = Math.max(slowest, restMs);
      return false;
    };
    for (const { status, ageMs } of targets) {
      if (ageMs === 0 || leaseLost || signal.aborted) continue;
      const throttle = this.throttleOf(status);
      const ranOut = await batches(async () => {
        const pruned = await this.d.store.pruneTasks(status, ageMs, r.idempotencyTtlMs, this.batchSize);
        counts.tasks += pruned.tasks.length;
        counts.task_events += pruned.events;
        counts.callback_deliveries += pruned.callbacks;
        counts.task_dependencies += pruned.dependencies;
        // Every pruned task, not only dead ones: a replay or a discard that could not reach
        // the queue left its task's record behind, and this is its last chance to go.
        if (pruned.tasks.length > 0) await this.removeDeadLetters(pruned.tasks);
        return { n: pruned.tasks.length, behindMs: pruned.behindMs };
      }, throttle);
      if (ranOut) throttle.caughtUp();
    }
    if (r.auditMs > 0 && !leaseLost && !signal.aborted) {
      await batches(async () => {
        const n = await this.d.store.pruneAudit(r.auditMs, this.batchSize);
        counts.audit_log += n;
        return { n, behindMs: null };
      });
    }
    this.lastRestMs = slowest;
    for (const table of Object.keys(counts) as PrunedTable[]) {
      if (counts[table] > 0) this.d.events.emit('rows_pruned', { table, count: counts[table] });
    }
    const throttle = Object.fromEntries([...this.throttles].map(([status, t]) => [status, t.factor]));
    this.d.logger.info({ removed: counts, more, leaseLost, throttle }, 'pruned what retention allows');
    this.backlog = more && !leaseLost;
    if (!leaseLost && !signal.aborted) await this.vacuumIfNeeded(counts);
    return counts;
  }

  /**
   * Where nothing else vacuums (PGlite; a PostgreSQL with autovacuum off), the tables this
   * pruner deleted from, at most every `vacuumEveryMs`, so that new rows reuse the space of
   * deleted ones and the database stays the size of what retention keeps.
   */
  private async vacuumIfNeeded(counts: PrunedCounts): Promise<void> {
    for (const table of Object.keys(counts) as PrunedTable[])
      if (counts[table] > 0) this.unvacuumed.add(table);
    if (this.unvacuumed.size === 0) return;
    if (Date.now() - this.lastVacuumAt < (this.d.vacuumEveryMs ?? VACUUM_EVERY_MS)) return;
    try {
      if (this.vacuums === undefined) {
        this.vacuums = !(await this.d.store.autovacuumRuns());
        if (this.vacuums)
          this.d.logger.info('no autovacuum runs here: the pruner vacuums the tables it deletes from');
      }
      if (!this.vacuums) return;
      const tables = [...this.unvacuumed];
      const started = performance.now();
      await this.d.store.vacuum(tables);
      this.unvacuumed.clear();
      this.d.logger.info({ tables, ms: Math.round(performance.now() - started) }, 'vacuumed after pruning');
    } catch (err) {
      this.d.logger.warn({ err }, 'could not vacuum after pruning; the next pass tries again');
    } finally {
      this.lastVacuumAt = Date.now();
    }
  }

  /**
   * A backlog is worked off pass after pass (each one bounded, resting between statements as
   * its throttle says, and as long again before the next pass).
   */
  protected override nextDelayMs(): number {
    return this.backlog
      ? Math.min(this.intervalMs, Math.max(this.d.pauseMs ?? 100, this.lastRestMs))
      : this.intervalMs;
  }

  override async stop(): Promise<void> {
    this.stopping.abort();
    await super.stop();
    await this.d.lease
      .release()
      .catch((err: unknown) => this.d.logger.warn({ err }, 'could not release the pruner lease'));
  }

  private get batchSize(): number {
    return this.d.batchSize ?? 500;
  }

  /** The queue is told after the commit; one it cannot reach is logged (the records stay). */
  private async removeDeadLetters(refs: Parameters<QueueBackend['removeDeadLetters']>[0]): Promise<void> {
    try {
      await this.d.queue.removeDeadLetters(refs);
    } catch (err) {
      this.d.logger.warn(
        { err, tasks: refs.length },
        'could not delete the dead-letter records of pruned tasks',
      );
    }
  }
}
