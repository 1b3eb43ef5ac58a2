import type { Hono } from 'hono';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { buildApi } from '../../compose/build-api';
import { buildWorker } from '../../compose/build-worker';
import { builtinCatalog } from '../../compose/task-catalog';
import type { ApiServices, AppEnv } from '../../handlers/context';
import type { Role } from '../../lib/auth/roles';
import type { TaskType } from '../../lib/catalog/task-type';
import type { Config } from '../../lib/config';
import { testConfig } from '../../lib/config';
import type { Database } from '../../lib/db/client';
import { openPostgres } from '../../lib/db/client';
import type { FailPoints } from '../../lib/failpoints';
import { MemoryFlowGate } from '../../lib/flow/memory-flow-gate';
import type { Logger } from '../../lib/logger';
import type { LogFeedOptions } from '../../lib/logs/log-feed';
import { silentLogger } from '../../lib/logger';
import { EventBus } from '../../lib/observability/event-bus';
import { attachTaskMetrics, createMetrics } from '../../lib/observability/metrics';
import type { Metrics } from '../../lib/observability/metrics';
import type { TaskEventMap, TaskEvents } from '../../lib/observability/task-events';
import { MemoryQueue } from '../../lib/queue/memory-queue';
import type { QueueBackend } from '../../lib/queue/queue-backend';
import { RedisQueue } from '../../lib/queue/redis-queue';
import type { RedisClient } from '../../lib/redis/client';
import type { TaskView } from '../../lib/tasks/task';
import type { Tracing } from '../../lib/tracing/tracing';
import type { CallbackDelivererOptions } from '../../worker/callback-deliverer';
import type { Worker } from '../../worker/worker';
import { createTestPostgres, openTestPglite } from './databases';
import type { TestPostgres } from './databases';
import { deletePrefix, testPrefix, testRedis } from './redis';

export interface StackOptions {
  queue?: 'memory' | 'redis';
  db?: 'pglite' | 'postgres';
  config?: Partial<Record<keyof Config, string>>;
  /** Start an in-process worker (default true). */
  worker?: boolean;
  /** Extra task types for the test (defineTaskType). */
  types?: TaskType[];
  logger?: Logger;
  /** Rewrites the test database's URL before connecting (e.g. through a TcpProxy). */
  postgresUrl?: (url: string) => string;
  /**
   * Give every worker a callback deliverer with these limits, as buildWorker does. Its requests
   * go through the stack's SafeOutboundClient: set OUTBOUND_ALLOW_PRIVATE 'true' to reach a
   * receiver on 127.0.0.1.
   */
  callbacks?: CallbackDelivererOptions;
  /** Pause points for every worker of the stack (see FailPoints.hooked). */
  failpoints?: FailPoints;
  /** Opens the stack's Redis clients (queue: 'redis'): the local Redis unless given, e.g. a cluster's. */
  redis?: () => RedisClient;
  /** Spans of the API and every worker (e.g. otelTracing with an in-memory exporter). */
  tracing?: Tracing;
  /** The live tail's limits and intervals (README "Live tail"), where a test needs others. */
  logFeed?: Partial<LogFeedOptions>;
}

/** The two backends suites run on both: everything in this process, and the real services. */
export const STACK_VARIANTS: { name: string; opts: StackOptions }[] = [
  { name: 'memory queue + PGlite', opts: { queue: 'memory', db: 'pglite' } },
  { name: 'Redis + PostgreSQL', opts: { queue: 'redis', db: 'postgres' } },
];

export interface RequestOptions {
  token?: string | null;
  body?: unknown;
  rawBody?: string | Uint8Array;
  headers?: Record<string, string>;
}

/** An API (and worker) in this process over real or in-memory backends, for tests. */
export interface Stack {
  app: Hono<AppEnv>;
  config: Config;
  database: Database;
  /** The test database's URL (db: 'postgres'), for a connection of a test's own. */
  databaseUrl?: string;
  queue: QueueBackend;
  events: TaskEvents;
  metrics: Metrics;
  services: ApiServices;
  worker?: Worker;
  adminToken: string;
  /** Another worker on the same database and queue (stop it yourself, or let stop() do it). */
  addWorker(id: string, overrides?: Partial<Record<keyof Config, string>>): Promise<Worker>;
  request(method: string, path: string, opts?: RequestOptions): Promise<Response>;
  /** Creates a user and returns its token. */
  user(role: Role, name?: string): Promise<{ id: string; token: string }>;
  /** Polls a task until its status is one of `statuses`. */
  waitForStatus(id: string, statuses: string[], timeoutMs?: number): Promise<TaskView>;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const queueKind = opts.queue ?? 'memory';
  const dbKind = opts.db ?? 'pglite';
  const prefix = testPrefix(queueKind);
  const settings: Partial<Record<keyof Config, string>> = {
    QUEUE_BACKEND: queueKind,
    REDIS_PREFIX: prefix,
    WORKER_BLOCK_MS: '200',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '200',
    // Tests send bursts, all from one in-process "address": limits no test reaches by
    // accident. Tests of the limits set their own.
    RATE_LIMIT_RPS: '1000000',
    RATE_LIMIT_BURST: '10000000',
    AUTH_FAILURES_PER_MINUTE: '1000000',
    ...opts.config,
  };
  const config = testConfig(settings);
  const logger = opts.logger ?? silentLogger();
  let pgHandle: TestPostgres | undefined;
  let database: Database;
  if (dbKind === 'postgres') {
    pgHandle = await createTestPostgres();
    database = opts.postgresUrl
      ? openPostgres(opts.postgresUrl(pgHandle.url), 20, logger)
      : pgHandle.open(20);
  } else {
    database = await openTestPglite();
  }
  const redisClients: RedisClient[] = [];
  const openRedis = opts.redis ?? testRedis;
  const newQueue = (): QueueBackend => {
    if (queueKind === 'memory') return sharedMemory!;
    const redis = openRedis();
    redisClients.push(redis);
    return new RedisQueue(redis, {
      prefix,
      openConnection: () => {
        const c = openRedis();
        redisClients.push(c);
        return c;
      },
    });
  };
  const sharedMemory = queueKind === 'memory' ? new MemoryQueue() : undefined;
  const queue = newQueue();
  const events = new EventBus<TaskEventMap>(logger);
  const metrics = createMetrics(undefined, false);
  attachTaskMetrics(events, metrics);
  const catalog = builtinCatalog(config);
  for (const t of opts.types ?? []) catalog.register(t);
  const accessRedis = queueKind === 'redis' ? openRedis() : null;
  if (accessRedis) redisClients.push(accessRedis);
  const { app, services } = buildApi({
    config,
    database,
    queue,
    accessRedis,
    catalog,
    events,
    logger,
    metrics,
    tracing: opts.tracing,
    logFeed: opts.logFeed,
    version: 'test',
  });
  const workers: { worker: Worker; close: () => Promise<void> }[] = [];
  const queues: QueueBackend[] = [queue];

  // The memory queue's workers share one process, so they share its flow gate; on Redis each
  // worker keeps its own client, as separate processes would.
  const sharedGate = queueKind === 'memory' ? new MemoryFlowGate() : undefined;
  const addWorker = async (id: string, overrides: Partial<Record<keyof Config, string>> = {}) => {
    const q = newQueue();
    if (q !== queue) queues.push(q);
    let redis: RedisClient | undefined;
    if (queueKind === 'redis') {
      redis = openRedis();
      redisClients.push(redis);
    }
    const built = buildWorker(
      {
        redis,
        config: testConfig({ ...settings, ...overrides }),
        database,
        queue: q,
        catalog,
        events,
        logger,
        tracing: opts.tracing,
      },
      {
        workerId: id,
        callbacks: opts.callbacks ?? false,
        flowGate: sharedGate,
        schedulerIntervalMs: 50,
        failpoints: opts.failpoints,
      },
    );
    await built.worker.start();
    workers.push(built);
    return built.worker;
  };

  const worker = opts.worker === false ? undefined : await addWorker('worker-1');
  const admin = await services.users.create('test-admin', 'admin');

  const request = (method: string, path: string, o: RequestOptions = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const token = o.token === undefined ? admin.token : o.token;
    if (token) headers['X-API-Token'] = token;
    let body: string | Uint8Array | undefined;
    if (o.rawBody !== undefined) body = o.rawBody;
    else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['Content-Type'] ??= 'application/json';
    }
    return Promise.resolve(app.request(path, { method, headers, body }));
  };

  return {
    app,
    config,
    database,
    databaseUrl: pgHandle?.url,
    queue,
    events,
    metrics,
    services,
    worker,
    adminToken: admin.token,
    addWorker,
    request,
    async user(role, name) {
      const { user, token } = await services.users.create(
        name ?? `${role}-${Math.random().toString(36).slice(2)}`,
        role,
      );
      return { id: user.id, token };
    },
    async waitForStatus(id, statuses, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last: TaskView | undefined;
      while (Date.now() < deadline) {
        const res = await request('GET', `/v1/tasks/${id}`);
        last = (await res.json()) as TaskView;
        if (statuses.includes(last.status)) return last;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(
        `task ${id} did not reach ${statuses.join('|')} in ${timeoutMs} ms (last: ${last?.status})`,
      );
    },
    async stop() {
      await services.logFeed.close();
      await services.submit.settled();
      await Promise.all(workers.map((w) => w.worker.stop()));
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(queues.map((q) => q.close()));
      if (queueKind === 'redis') {
        const r = openRedis();
        await deletePrefix(r, prefix);
        r.disconnect();
      }
      for (const c of redisClients) c.disconnect();
      await database.close();
      await pgHandle?.drop();
    },
  };
}

/** How many task rows the stack's database holds. */
export async function taskCount(s: Stack): Promise<number> {
  const [row] = await s.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`);
  return row!.n;
}

/**
 * Submits tasks through POST /v1/tasks/batch, which must accept them all (202), and waits for
 * their enqueue (it goes on beside the answer): the tasks are on their queue when it returns.
 */
export async function submitBatch(s: Stack, tasks: unknown[]): Promise<TaskView[]> {
  const res = await s.request('POST', '/v1/tasks/batch', { body: { tasks } });
  expect(res.status).toBe(202);
  await s.services.submit.settled();
  return ((await res.json()) as { tasks: TaskView[] }).tasks;
}
