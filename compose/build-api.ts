import type { RedisClient } from '../lib/redis/client';
import type { Hono } from 'hono';
import { createApp } from '../handlers/app';
import type { ApiServices, AppEnv } from '../handlers/context';
import type { ConsoleAssets } from '../handlers/console';
import { AuditStore } from '../lib/audit/audit-store';
import { CallbackDeliveryStore } from '../lib/callbacks/delivery-store';
import { SessionStore } from '../lib/console/session-store';
import { heldLeases } from '../lib/leadership/lease';
import { cachedFor } from '../lib/observability/cached';
import { TaskActivity } from '../lib/tasks/task-activity';
import { fileConsoleAssets } from './console-assets';
import { accessBackends } from '../lib/auth/access-backends';
import { Authenticator } from '../lib/auth/authenticator';
import { UserAdmin } from '../lib/auth/user-admin';
import { UserStore } from '../lib/auth/user-store';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import type { Logger } from '../lib/logger';
import { LogFeed } from '../lib/logs/log-feed';
import type { LogFeedOptions } from '../lib/logs/log-feed';
import { LogStore } from '../lib/logs/log-store';
import type { Metrics } from '../lib/observability/metrics';
import { attachDependencyGauge, attachLogStreamGauge, attachQueueGauges } from '../lib/observability/metrics';
import type { TaskEvents } from '../lib/observability/task-events';
import { QueueAdmin } from '../lib/queue/queue-admin';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { QueuePauseStore } from '../lib/queue/queue-pauses';
import { QueueRegistry } from '../lib/queue/queue-registry';
import { ScheduleService } from '../lib/schedules/schedule-service';
import { ScheduleStore } from '../lib/schedules/schedule-store';
import { signingKeyStore } from '../lib/signing/key-store';
import { DeadLetterStore } from '../lib/tasks/dead-letter-store';
import { DependencyStore } from '../lib/tasks/dependency-store';
import { DependentRelease } from '../lib/tasks/dependent-release';
import { TaskCommands } from '../lib/tasks/task-commands';
import { TaskStore } from '../lib/tasks/task-store';
import { noTracing } from '../lib/tracing/tracing';
import type { Tracing } from '../lib/tracing/tracing';
import { buildSubmitService } from './build-submit';

export interface ApiClients {
  config: Config;
  database: Database;
  /** Where lists, the DLQ list, logs and counts are read (openReadDatabase); default: `database`. */
  readDatabase?: Database;
  queue: QueueBackend;
  /** Redis for rate limits and revocation marks (null with the memory queue: one process). */
  accessRedis: RedisClient | null;
  catalog: TaskCatalog;
  events: TaskEvents;
  logger: Logger;
  /** Spans of submissions (openTracing); default: ids only, nothing exported. */
  tracing?: Tracing;
  /** The live tail's limits and intervals, where they differ from LOG_FEED_DEFAULTS (tests). */
  logFeed?: Partial<LogFeedOptions>;
  /** Counts dropped live tails when given. */
  metrics?: Metrics;
  /** The console's script and style sheet; default: the built files (compose/console-assets.ts). */
  consoleAssets?: ConsoleAssets;
}

/** The services the API's handlers call, built from its clients: the one place they are made. */
export function buildApiServices(p: ApiClients): ApiServices {
  const { config, database, queue, events, logger } = p;
  const limits = { listTimeoutMs: config.LIST_QUERY_TIMEOUT_MS };
  const reads = p.readDatabase ?? database;
  const tasks = new TaskStore(database, limits, reads);
  const users = new UserStore(database);
  const audit = new AuditStore(database);
  const access = accessBackends(p.accessRedis, config.REDIS_PREFIX, logger);
  const auth = new Authenticator(users, config.API_TOKENS, logger, access.revocations);
  const queues = new QueueRegistry(database, config.MAX_QUEUES);
  const dependencies = new DependencyStore(database);
  const submit = buildSubmitService({
    config,
    tasks,
    dependencies,
    queue,
    catalog: p.catalog,
    queues,
    events,
    logger,
  });
  const activity = new TaskActivity(reads, limits);
  return {
    sessions: new SessionStore(database, { idleMs: config.UI_SESSION_IDLE_MS }),
    deliveries: new CallbackDeliveryStore(database),
    // Many consoles may show the overview at once: one read per 10 s serves them all.
    activity: cachedFor(10_000, () => activity.lastHour()),
    leases: () => heldLeases(database),
    tasks,
    users,
    auth,
    audit,
    rateLimiter: access.rateLimiter,
    gate: access.gate,
    userAdmin: new UserAdmin({ database, users, audit, auth, revocations: access.revocations, logger }),
    logs: new LogStore(reads, limits),
    // The primary: a standby can neither LISTEN nor be read right after a notification.
    logFeed: new LogFeed(
      { database, logger, onDrop: () => p.metrics?.logStreamsDropped.inc() },
      { queryTimeoutMs: config.LIST_QUERY_TIMEOUT_MS, ...p.logFeed },
    ),
    signingKeys: signingKeyStore(config, database),
    queues: new QueueAdmin({ queue, tasks, pauses: new QueuePauseStore(database), registry: queues, logger }),
    commands: new TaskCommands({
      tasks,
      deadLetters: new DeadLetterStore(database),
      audit,
      queue,
      events,
      logger,
      dependents: new DependentRelease({ store: dependencies, queue, events, logger }),
    }),
    submit,
    schedules: new ScheduleService({
      store: new ScheduleStore(database, audit, tasks),
      submit,
      users,
      events,
    }),
    registry: queues,
  };
}

/**
 * The API of a process: its services, the queue gauges on its metrics, and the Hono app built
 * from them. `serve` and the in-process test stack both get theirs here.
 */
export function buildApi(p: ApiClients & { metrics: Metrics; version: string }): {
  app: Hono<AppEnv>;
  services: ApiServices;
} {
  const { database, queue } = p;
  const services = buildApiServices(p);
  attachDependencyGauge(p.metrics, dependencyProbes(database, queue));
  attachLogStreamGauge(p.metrics, services.logFeed);
  const pauses = new QueuePauseStore(database);
  attachQueueGauges(p.metrics, {
    queue,
    deadCount: async () => {
      const rows = await services.tasks.countByQueueAndStatus(['dead']);
      return rows.reduce((n, r) => n + r.n, 0);
    },
    pausedQueues: () => pauses.paused(),
  });
  const app = createApp({
    settings: p.config,
    services,
    catalog: p.catalog,
    metrics: p.metrics,
    logger: p.logger,
    tracing: p.tracing ?? noTracing,
    version: p.version,
    readiness: { db: () => database.ping(), queue: () => queue.ping() },
    consoleAssets: p.consoleAssets ?? fileConsoleAssets(),
    info: { queueBackend: queue.kind, database: database.kind === 'pglite' ? 'embedded' : 'postgres' },
  });
  return { app, services };
}

/** What procurator_dependency_up reports: the database, and Redis when the queue is there. */
export function dependencyProbes(
  database: Pick<Database, 'ping'>,
  queue: Pick<QueueBackend, 'ping' | 'kind'>,
): Record<string, () => Promise<void>> {
  return {
    database: () => database.ping(),
    ...(queue.kind === 'redis' ? { redis: () => queue.ping() } : {}),
  };
}
