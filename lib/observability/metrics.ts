import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueBackend, QueueStats } from '../queue/queue-backend';
import { withTimeout } from '../with-timeout';
import { cachedFor } from './cached';
import type { TaskEvents } from './task-events';

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Every metric of API.md, on one registry that the entry point creates and injects. */
export function createMetrics(registry: Registry = new Registry(), defaults = true) {
  if (defaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    tasksSubmitted: new Counter({
      name: 'procurator_tasks_submitted_total',
      help: 'Tasks accepted by the API.',
      labelNames: ['type', 'queue'] as const,
      registers,
    }),
    tasksFinished: new Counter({
      name: 'procurator_tasks_finished_total',
      help: 'Tasks that reached an end (succeeded, dead, cancelled).',
      labelNames: ['type', 'queue', 'status'] as const,
      registers,
    }),
    taskAttempts: new Counter({
      name: 'procurator_task_attempts_total',
      help: 'Attempts by outcome.',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    taskDuration: new Histogram({
      name: 'procurator_task_duration_seconds',
      help: 'Time an attempt ran.',
      labelNames: ['type'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    taskWait: new Histogram({
      name: 'procurator_task_wait_seconds',
      help: 'Time from a task being due to its attempt starting.',
      labelNames: ['type'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    recovered: new Counter({
      name: 'procurator_recovered_total',
      help: 'Messages taken over from workers that stopped answering.',
      registers,
    }),
    lateResultsDiscarded: new Counter({
      name: 'procurator_late_results_discarded_total',
      help: 'Outcomes of attempts whose lease had passed to another worker, discarded.',
      registers,
    }),
    messagesDropped: new Counter({
      name: 'procurator_messages_dropped_total',
      help: 'Queue messages acknowledged without running (stale, duplicate, task ended).',
      labelNames: ['reason'] as const,
      registers,
    }),
    workerInflight: new Gauge({
      name: 'procurator_worker_inflight',
      help: 'Tasks this worker is running.',
      registers,
    }),
    httpRequests: new Counter({
      name: 'procurator_http_requests_total',
      help: 'HTTP requests answered.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'procurator_http_request_duration_seconds',
      help: 'Time to answer an HTTP request.',
      labelNames: ['method', 'route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    flowLimited: new Counter({
      name: 'procurator_flow_limited_total',
      help: 'Attempts held back by a flow limit (they wait; they are not failed).',
      labelNames: ['scope'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'procurator_rate_limited_total',
      help: 'Requests refused by the rate limiter.',
      registers,
    }),
    callbacks: new Counter({
      name: 'procurator_callbacks_total',
      help: 'Callback tries by outcome: delivered, failed (tried again later), given_up (no more tries).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    schedulesFired: new Counter({
      name: 'procurator_schedules_fired_total',
      help: 'Tasks fired by schedules: one per due time fired, and one per trigger.',
      registers,
    }),
    pruned: new Counter({
      name: 'procurator_pruned_total',
      help: 'Rows retention deleted, by table (tasks, task_events, callback_deliveries, audit_log).',
      labelNames: ['table'] as const,
      registers,
    }),
    logStreamsDropped: new Counter({
      name: 'procurator_log_streams_dropped_total',
      help: 'Live tails (/v1/logs/stream) dropped because their reader fell too far behind.',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Counts what the task events announce. */
export function attachTaskMetrics(events: TaskEvents, m: Metrics): void {
  events.on('submitted', ({ task }) => m.tasksSubmitted.inc({ type: task.type, queue: task.queue }));
  events.on('started', ({ task, waitMs }) =>
    m.taskWait.observe({ type: task.type }, Math.max(0, waitMs) / 1000),
  );
  events.on('attempt_finished', ({ task, outcome, durationMs }) => {
    m.taskAttempts.inc({ type: task.type, outcome });
    m.taskDuration.observe({ type: task.type }, durationMs / 1000);
  });
  events.on('finished', ({ task }) =>
    m.tasksFinished.inc({ type: task.type, queue: task.queue, status: task.status }),
  );
  events.on('late_result_discarded', () => m.lateResultsDiscarded.inc());
  events.on('recovered', ({ count }) => m.recovered.inc(count));
  events.on('message_dropped', ({ reason }) => m.messagesDropped.inc({ reason }));
  events.on('inflight', ({ count }) => m.workerInflight.set(count));
  events.on('flow_limited', ({ scopes }) => {
    for (const scope of scopes) m.flowLimited.inc({ scope });
  });
  events.on('callback_tried', ({ outcome }) => m.callbacks.inc({ outcome }));
  events.on('schedule_fired', ({ count }) => m.schedulesFired.inc(count));
  events.on('rows_pruned', ({ table, count }) => m.pruned.inc({ table }, count));
}

/**
 * `procurator_dependency_up{dependency}`: 1 when the dependency answers the same probe
 * `/readyz` makes, 0 when it does not (or not within 2 s); probed at most every
 * SCRAPE_CACHE_MS.
 */
export function attachDependencyGauge(m: Metrics, probes: Record<string, () => Promise<void>>): void {
  const up = cachedFor(SCRAPE_CACHE_MS, async () => {
    const names = Object.keys(probes);
    const results = await Promise.all(
      names.map((n) =>
        withTimeout(probes[n]!(), 2000, n).then(
          () => 1,
          () => 0,
        ),
      ),
    );
    return names.map((n, i) => [n, results[i]!] as const);
  });
  new Gauge({
    name: 'procurator_dependency_up',
    help: 'Whether a dependency (database, redis) answers, as /readyz sees it: 1 or 0.',
    labelNames: ['dependency'] as const,
    registers: [m.registry],
    async collect() {
      for (const [dependency, value] of await up()) this.set({ dependency }, value);
    },
  });
}

/** `procurator_log_streams`: the live tails open on this process, read at each scrape. */
export function attachLogStreamGauge(m: Metrics, feed: { openCount: number }): void {
  new Gauge({
    name: 'procurator_log_streams',
    help: 'Live tails (/v1/logs/stream) open on this process.',
    registers: [m.registry],
    collect() {
      this.set(feed.openCount);
    },
  });
}

/** How long the numbers behind the queue gauges are reused between scrapes. */
export const SCRAPE_CACHE_MS = 2000;

/** What the queue gauges read: the queue's stats, the dead-task count, the paused queues. */
export interface QueueGaugeSources {
  queue: QueueBackend;
  deadCount: () => Promise<number>;
  pausedQueues: () => Promise<Set<string>>;
}

/** How long a scrape waits for a gauge's source before it reports the gauge as unknown. */
const GAUGE_READ_TIMEOUT_MS = 2000;

/**
 * Queue gauges, read when Prometheus scrapes: one queue stats call, one dead-task count and
 * one read of the paused queues per SCRAPE_CACHE_MS, whatever the number of gauges, scrapers
 * or scrapes, so an unauthenticated scrape costs no more than reading a cache.
 *
 * A source that fails or hangs does not fail the scrape: the per-queue gauges then have no
 * series and the totals read NaN, while procurator_dependency_up and the counters still reach
 * Prometheus; a 503 /metrics would hide the very gauge that says which dependency is down.
 */
export function attachQueueGauges(m: Metrics, sources: QueueGaugeSources): void {
  const registers = [m.registry];
  const unknownOnFailure = <T>(read: () => Promise<T>, name: string) => {
    const cached = cachedFor(SCRAPE_CACHE_MS, () => withTimeout(read(), GAUGE_READ_TIMEOUT_MS, name));
    return () =>
      cached().then(
        (value): T | undefined => value,
        () => undefined,
      );
  };
  const stats = unknownOnFailure(() => sources.queue.stats(), 'queue stats');
  const dead = unknownOnFailure(sources.deadCount, 'dead count');
  const paused = unknownOnFailure(sources.pausedQueues, 'paused queues');
  const perQueue = (name: string, help: string, value: (s: QueueStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers,
      async collect() {
        this.reset();
        for (const s of (await stats()) ?? []) this.set({ queue: s.name }, value(s));
      },
    });
  perQueue('procurator_queue_length', 'Messages waiting to be delivered, per queue.', (s) => s.length);
  perQueue(
    'procurator_queue_pending',
    'Messages delivered and not yet acknowledged, per queue.',
    (s) => s.pending,
  );
  perQueue(
    'procurator_queue_consumers',
    'Workers consuming a queue: took its tasks in the last minute, or hold some.',
    (s) => s.consumers,
  );
  perQueue(
    'procurator_queue_oldest_age_seconds',
    'How long the oldest task ready to start has waited, per queue (0 when none waits).',
    (s) => s.oldestAgeSeconds,
  );
  new Gauge({
    name: 'procurator_queue_paused',
    help: 'Whether a queue is paused (1) and starts nothing until resumed, or not (0).',
    labelNames: ['queue'] as const,
    registers,
    async collect() {
      this.reset();
      const [all, names] = await Promise.all([stats(), paused()]);
      if (!names) return;
      for (const queue of new Set([...(all ?? []).map((s) => s.name), ...names])) {
        this.set({ queue }, names.has(queue) ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'procurator_delayed_tasks',
    help: 'Tasks waiting for their due time.',
    registers,
    async collect() {
      const all = await stats();
      this.set(all ? all.reduce((n, s) => n + s.delayed, 0) : Number.NaN);
    },
  });
  new Gauge({
    name: 'procurator_dlq_size',
    help: 'Dead tasks waiting for replay or deletion.',
    registers,
    async collect() {
      this.set((await dead()) ?? Number.NaN);
    },
  });
}
