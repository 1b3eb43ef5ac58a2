import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { ExecutorServices } from '../lib/catalog/task-type';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import type { FailPoints } from '../lib/failpoints';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { Tracing } from '../lib/tracing/tracing';
import { AttemptStore } from '../lib/tasks/attempt-store';
import { DependencyStore } from '../lib/tasks/dependency-store';
import { DependentRelease } from '../lib/tasks/dependent-release';
import { OutcomeStore } from '../lib/tasks/outcome-store';
import { AttemptRunner } from './attempt-runner';
import type { Flow } from './attempt-runner';
import { Consumer } from './consumer';
import { Heartbeat } from './heartbeat';
import { PauseWatcher } from './pause-watcher';
import { QueuePauseStore } from '../lib/queue/queue-pauses';
import { Reconciler } from './reconciler';
import { Pruner } from './pruner';
import { Lease } from '../lib/leadership/lease';
import { RetentionStore } from '../lib/retention/retention-store';
import { Recoverer } from './recoverer';
import { ConsumerSweeper } from './consumer-sweeper';
import { STALE_CONSUMER_MS } from '../lib/queue/queue-backend';
import { Scheduler } from './scheduler';

export type WorkerSettings = Pick<
  Config,
  | 'WORKER_CONCURRENCY'
  | 'WORKER_BLOCK_MS'
  | 'CLAIM_IDLE_MS'
  | 'RECOVERY_INTERVAL_MS'
  | 'RECONCILE_INTERVAL_MS'
  | 'SHUTDOWN_GRACE_MS'
  | 'RETRY_BASE_MS'
  | 'RETRY_MAX_MS'
  | 'RETENTION_SUCCEEDED_MS'
  | 'RETENTION_DEAD_MS'
  | 'RETENTION_AUDIT_MS'
  | 'IDEMPOTENCY_TTL_MS'
  | 'PRUNE_INTERVAL_MS'
>;

/**
 * How long a leader keeps its lease without renewing it: two periods and a margin, so the
 * leader renews it at every tick and stays leader, and a dead leader is replaced within
 * about two periods. A pass renews it before every batch, so no pass outlives it.
 */
export function leaderLeaseMs(intervalMs: number): number {
  return 2 * intervalMs + 5000;
}

export interface WorkerDeps {
  settings: WorkerSettings;
  database: Database;
  queue: QueueBackend;
  catalog: TaskCatalog;
  /** What the task types' executors use (outbound HTTP, Feishu, backups). */
  services: ExecutorServices;
  events: TaskEvents;
  logger: Logger;
  workerId: string;
  /** Scheduler period; due tasks start within about this long after their time. */
  schedulerIntervalMs?: number;
  /** Flow limits (FLOW_LIMITS) and the gate enforcing them; none when absent. */
  flow?: Flow;
  /**
   * The schedule firer (README "Schedules"): it takes new work, so it stops with the
   * consumer's reads, before the attempts in flight are waited for.
   */
  scheduleFirer?: { start(): void; stop(): Promise<void> };
  /** More components (e.g. the dead-letter alerter), started and stopped with the helpers. */
  components?: { start(): void; stop(): Promise<void> }[];
  /** Test-only crash (or pause) points. */
  failpoints?: FailPoints;
  random?: () => number;
  /** Spans of attempts (default: ids only, nothing exported). */
  tracing?: Tracing;
}

/** The worker: a fixed set of cooperating loops over injected clients. */
export class Worker {
  readonly consumer: Consumer;
  readonly heartbeat: Heartbeat;
  readonly recoverer: Recoverer;
  readonly scheduler: Scheduler;
  readonly reconciler: Reconciler;
  readonly pruner: Pruner;
  readonly consumerSweeper: ConsumerSweeper;
  readonly pauses: PauseWatcher;
  private unsubscribeCancel?: () => void;
  private stopping?: Promise<void>;

  constructor(private readonly d: WorkerDeps) {
    const s = d.settings;
    const store = new AttemptStore(d.database);
    const logger = d.logger.child({ workerId: d.workerId });
    this.pauses = new PauseWatcher(new QueuePauseStore(d.database), logger);
    const pausedQueues = () => this.pauses.paused();
    const runner = new AttemptRunner({
      queue: d.queue,
      claims: store,
      outcomes: new OutcomeStore(d.database),
      catalog: d.catalog,
      services: d.services,
      events: d.events,
      logger,
      workerId: d.workerId,
      leaseMs: s.CLAIM_IDLE_MS,
      retry: { baseMs: s.RETRY_BASE_MS, maxMs: s.RETRY_MAX_MS },
      random: d.random,
      failpoints: d.failpoints,
      flow: d.flow,
      pausedQueues,
      tracing: d.tracing,
      dependents: new DependentRelease({
        store: new DependencyStore(d.database),
        queue: d.queue,
        events: d.events,
        logger,
        failpoints: d.failpoints,
      }),
    });
    this.consumer = new Consumer({
      queue: d.queue,
      runner,
      events: d.events,
      logger,
      workerId: d.workerId,
      concurrency: s.WORKER_CONCURRENCY,
      blockMs: s.WORKER_BLOCK_MS,
      pausedQueues,
    });
    this.heartbeat = new Heartbeat({
      consumer: this.consumer,
      queue: d.queue,
      store,
      flowGate: d.flow?.gate,
      logger,
      workerId: d.workerId,
      leaseMs: s.CLAIM_IDLE_MS,
      // Three beats per lease: one missed beat (a GC pause, a slow query) loses nothing.
      intervalMs: Math.max(50, Math.floor(s.CLAIM_IDLE_MS / 3)),
    });
    this.recoverer = new Recoverer({
      consumer: this.consumer,
      queue: d.queue,
      events: d.events,
      logger,
      workerId: d.workerId,
      claimIdleMs: s.CLAIM_IDLE_MS,
      intervalMs: s.RECOVERY_INTERVAL_MS,
    });
    this.scheduler = new Scheduler({
      queue: d.queue,
      store,
      logger,
      intervalMs: d.schedulerIntervalMs ?? 250,
    });
    this.consumerSweeper = new ConsumerSweeper({
      queue: d.queue,
      logger,
      idleMs: STALE_CONSUMER_MS,
      intervalMs: 60_000,
    });
    const lease = (name: string, intervalMs: number) =>
      new Lease(d.database, { name, holder: d.workerId, ttlMs: leaderLeaseMs(intervalMs) });
    this.reconciler = new Reconciler({
      queue: d.queue,
      store,
      lease: lease('reconciler', s.RECONCILE_INTERVAL_MS),
      logger,
      intervalMs: s.RECONCILE_INTERVAL_MS,
      graceMs: Math.min(5000, s.RECONCILE_INTERVAL_MS),
    });
    this.pruner = new Pruner({
      store: new RetentionStore(d.database),
      queue: d.queue,
      lease: lease('pruner', s.PRUNE_INTERVAL_MS),
      retention: {
        succeededMs: s.RETENTION_SUCCEEDED_MS,
        deadMs: s.RETENTION_DEAD_MS,
        auditMs: s.RETENTION_AUDIT_MS,
        idempotencyTtlMs: s.IDEMPOTENCY_TTL_MS,
      },
      events: d.events,
      logger,
      intervalMs: s.PRUNE_INTERVAL_MS,
    });
  }

  async start(): Promise<void> {
    // Know the paused queues before the first read.
    await this.pauses
      .tick()
      .catch((err: unknown) => this.d.logger.warn({ err }, 'could not read paused queues'));
    this.pauses.start();
    this.unsubscribeCancel = await this.d.queue.onCancel((taskId) => {
      this.consumer.abortTask(taskId, 'cancelled');
    });
    this.consumer.start();
    this.heartbeat.start();
    this.recoverer.start();
    this.scheduler.start();
    this.reconciler.start();
    this.pruner.start();
    this.consumerSweeper.start();
    this.d.scheduleFirer?.start();
    for (const c of this.d.components ?? []) c.start();
    this.d.logger.info(
      { workerId: this.d.workerId, concurrency: this.d.settings.WORKER_CONCURRENCY },
      'worker started',
    );
  }

  /**
   * Shutdown order (deadline: SHUTDOWN_GRACE_MS for attempts in flight):
   * 1. stop everything that takes new work — the consumer's reads, the recoverer, the
   *    scheduler, the schedule firer, the reconciler and the pruner (these two give up their
   *    leases, so another worker takes over at its next tick);
   * 2. let attempts in flight finish within the grace period, the heartbeat still keeping
   *    their leases; abandon the rest unacknowledged (another worker recovers them);
   * 3. stop the heartbeat, leave the consumer group where this worker holds nothing, stop the
   *    cancellation subscription and the other components (the dead-letter alerter flushes
   *    what the last attempts dead-lettered).
   * Clients (database, Redis) are closed by the entry point, after this.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const consumerDone = this.consumer.stop(this.d.settings.SHUTDOWN_GRACE_MS);
      await Promise.all([
        this.recoverer.stop(),
        this.scheduler.stop(),
        this.reconciler.stop(),
        this.pruner.stop(),
        this.consumerSweeper.stop(),
        this.pauses.stop(),
        this.d.scheduleFirer?.stop(),
      ]);
      await consumerDone;
      await this.heartbeat.stop();
      await this.d.queue
        .leave(this.d.workerId)
        .catch((err: unknown) => this.d.logger.warn({ err }, 'could not leave the consumer group'));
      this.unsubscribeCancel?.();
      await Promise.all((this.d.components ?? []).map((c) => c.stop()));
      this.d.logger.info({ workerId: this.d.workerId }, 'worker stopped');
    })();
    return this.stopping;
  }
}
