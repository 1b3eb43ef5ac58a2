import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisClient } from '../lib/redis/client';
import { prepareBackups } from '../lib/backup/prepare-backups';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { ExecutorServices } from '../lib/catalog/task-type';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import { FailPoints } from '../lib/failpoints';
import { FeishuClient } from '../lib/feishu/feishu-client';
import { FlowLimits } from '../lib/flow/flow-limits';
import type { FlowGate } from '../lib/flow/flow-limits';
import { MemoryFlowGate } from '../lib/flow/memory-flow-gate';
import { RedisFlowGate } from '../lib/flow/redis-flow-gate';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { SafeOutboundClient } from '../lib/outbound/safe-outbound-client';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { signingKeyStore } from '../lib/signing/key-store';
import type { Tracing } from '../lib/tracing/tracing';
import { CallbackDeliverer } from '../worker/callback-deliverer';
import type { CallbackDelivererOptions } from '../worker/callback-deliverer';
import { DeadLetterAlerter } from '../worker/dead-letter-alerter';
import { ScheduleFirer } from '../worker/schedule-firer';
import { Worker } from '../worker/worker';
import { UserStore } from '../lib/auth/user-store';
import { QueueRegistry } from '../lib/queue/queue-registry';
import { FiringStore } from '../lib/schedules/firing-store';
import { DependencyStore } from '../lib/tasks/dependency-store';
import { TaskStore } from '../lib/tasks/task-store';
import { buildSubmitService } from './build-submit';

/** A name unique to this process: the consumer name in Redis and the lease owner in the database. */
export function workerIdFor(config: Config): string {
  return config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface WorkerClients {
  /** The queue's Redis client when QUEUE_BACKEND=redis (flow limits are kept there). */
  redis?: RedisClient;
  config: Config;
  database: Database;
  queue: QueueBackend;
  catalog: TaskCatalog;
  events: TaskEvents;
  logger: Logger;
  /** Spans of attempts and callbacks (openTracing); default: ids only, nothing exported. */
  tracing?: Tracing;
}

/** What a test (or an embedding) may change about a worker; production passes none. */
export interface WorkerOverrides {
  workerId?: string;
  /** The callback deliverer's limits; `false`: no deliverer. */
  callbacks?: CallbackDelivererOptions | false;
  /** Shares one flow gate between in-process workers of the memory queue. */
  flowGate?: FlowGate;
  schedulerIntervalMs?: number;
  /** How often the schedule firer looks (default SCHEDULE_INTERVAL_MS). */
  scheduleIntervalMs?: number;
  failpoints?: FailPoints;
  random?: () => number;
}

export interface BuiltWorker {
  worker: Worker;
  scheduleFirer: ScheduleFirer;
  workerId: string;
  /**
   * Starts the worker, after clearing what killed workers left behind: stale temporary
   * files of pg.backup targets go before the first task runs.
   */
  start: () => Promise<void>;
  /** Closes the clients built here (outbound HTTP); call after worker.stop(). */
  close: () => Promise<void>;
}

/**
 * The only place a worker is built: the services its task types use (outbound HTTP, Feishu, backups), the
 * callback deliverer and, when a Feishu bot is configured, the dead-letter alerter.
 */
export function buildWorker(p: WorkerClients, o: WorkerOverrides = {}): BuiltWorker {
  const { config, logger } = p;
  const outbound = new SafeOutboundClient({ policy: addressPolicyFromConfig(config) });
  const feishu = config.FEISHU_WEBHOOK_URL
    ? new FeishuClient({ webhookUrl: config.FEISHU_WEBHOOK_URL, secret: config.FEISHU_SECRET, outbound })
    : null;
  const workerId = o.workerId ?? workerIdFor(config);
  const components: { start(): void; stop(): Promise<void> }[] = [];
  if (o.callbacks !== false) {
    // Signed completion callbacks go out through the same outbound client (and SSRF policy).
    components.push(
      new CallbackDeliverer({
        ...o.callbacks,
        database: p.database,
        outbound,
        keys: signingKeyStore(config, p.database),
        logger,
        events: p.events,
        workerId,
        tracing: p.tracing,
      }),
    );
  }
  if (feishu) components.push(new DeadLetterAlerter({ events: p.events, sender: feishu, logger }));
  // A firing is a submission as the schedule's owner would make it: the same submit service
  // as the API's, over this worker's own clients.
  const tasks = new TaskStore(p.database, { listTimeoutMs: config.LIST_QUERY_TIMEOUT_MS });
  const scheduleFirer = new ScheduleFirer({
    store: new FiringStore(p.database, tasks),
    users: new UserStore(p.database),
    submit: buildSubmitService({
      config,
      tasks,
      dependencies: new DependencyStore(p.database),
      queue: p.queue,
      catalog: p.catalog,
      queues: new QueueRegistry(p.database, config.MAX_QUEUES),
      events: p.events,
      logger,
    }),
    events: p.events,
    logger: logger.child({ workerId }),
    workerId,
    intervalMs: o.scheduleIntervalMs ?? config.SCHEDULE_INTERVAL_MS,
  });
  const services: ExecutorServices = {
    outbound,
    feishu,
    backups: { targets: config.BACKUP_TARGETS, dir: config.BACKUP_DIR, keep: config.BACKUP_KEEP },
  };
  const worker = new Worker({
    settings: config,
    database: p.database,
    queue: p.queue,
    catalog: p.catalog,
    services,
    events: p.events,
    logger,
    workerId,
    flow: flowFor(p, o.flowGate),
    components,
    scheduleFirer,
    schedulerIntervalMs: o.schedulerIntervalMs,
    failpoints: o.failpoints ?? new FailPoints(config.FAILPOINTS),
    random: o.random,
    tracing: p.tracing,
  });
  const start = async () => {
    await prepareBackups({
      backupDir: config.BACKUP_DIR,
      targets: Object.keys(config.BACKUP_TARGETS),
      logger,
    });
    await worker.start();
  };
  return { worker, scheduleFirer, workerId, start, close: () => outbound.close() };
}

/** FLOW_LIMITS and the gate that enforces them: in Redis (shared by all workers) or in memory. */
function flowFor(p: WorkerClients, shared?: FlowGate): { limits: FlowLimits; gate: FlowGate } | undefined {
  const limits = new FlowLimits(p.config.FLOW_LIMITS);
  if (limits.empty) return undefined;
  const gate = shared ?? (p.redis ? new RedisFlowGate(p.redis, p.config.REDIS_PREFIX) : new MemoryFlowGate());
  return { limits, gate };
}
