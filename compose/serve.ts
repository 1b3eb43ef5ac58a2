import type { ServerType } from '@hono/node-server';
import type { Server } from 'node:http';
import type { Config } from '../lib/config';
import { openDatabase, openReadDatabase } from '../lib/db/open';
import { listenHttp } from '../lib/http-server';
import type { Logger } from '../lib/logger';
import { EventBus } from '../lib/observability/event-bus';
import { attachTaskMetrics, createMetrics } from '../lib/observability/metrics';
import type { TaskEventMap } from '../lib/observability/task-events';
import { openQueue, openRedis } from '../lib/queue/open-queue';
import { SHUTDOWN_CLOSE_MS, onShutdownSignals } from '../lib/shutdown';
import { openTracing, tracingShutdownMs } from '../lib/tracing/open-tracing';
import { VERSION } from '../lib/version';
import { withTimeout } from '../lib/with-timeout';
import { buildApi } from './build-api';
import { bootstrapAdmin } from './bootstrap-admin';
import { buildWorker } from './build-worker';
import type { BuiltWorker } from './build-worker';
import { builtinCatalog } from './task-catalog';

/** How long requests in flight may take to finish once the API stops accepting connections. */
const HTTP_DRAIN_MS = 5000;
/** How long a stopping API waits for the enqueues of tasks it has answered. */
const ENQUEUE_DRAIN_MS = 2000;

/** A running API (and, with the memory queue, its in-process worker). */
export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

/** `procurator serve`: builds every client, the app and (memory queue) the worker; runs them. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const database = await openDatabase(config, logger);
  const readDatabase = openReadDatabase(config, logger, database);
  const { queue, close: closeQueue } = openQueue(config, logger, 'api');
  const events = new EventBus<TaskEventMap>(logger);
  const metrics = createMetrics();
  attachTaskMetrics(events, metrics);
  const catalog = builtinCatalog(config);
  const tracing = await openTracing(config, logger);
  // Rate limits and revocation marks go through Redis whenever replicas may be many; their
  // own connection keeps the limiter's one call per request out of the queue's way.
  const accessRedis = config.QUEUE_BACKEND === 'redis' ? openRedis(config, logger, 'api-access') : null;
  const { app, services } = buildApi({
    config,
    database,
    readDatabase,
    queue,
    accessRedis,
    catalog,
    events,
    logger,
    metrics,
    tracing,
    version: VERSION,
  });

  if (database.kind === 'pglite') await bootstrapAdmin(services.users, logger);

  let worker: BuiltWorker | undefined;
  if (queue.kind === 'memory') {
    worker = buildWorker({ config, database, queue, catalog, events, logger, tracing });
    await worker.start();
  }

  // `env` carries the Node request and socket, which getConnInfo reads for the client address.
  const server = await listenHttp((req, env) => app.fetch(req, env), config.SERVER_HOST, config.SERVER_PORT);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.SERVER_PORT;
  logger.info(
    { port, queueBackend: queue.kind, database: database.kind, version: VERSION },
    `Procurator listening on http://${config.SERVER_HOST}:${port}`,
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    stop() {
      // Shutdown order (each step bounded):
      // 1. stop accepting connections; end the live tails (they last until closed, so they
      //    are not requests to wait for: each ends cleanly, or at once if its reader is
      //    stuck); requests in flight get up to HTTP_DRAIN_MS;
      //    then the enqueues still running beside their answers get up to ENQUEUE_DRAIN_MS;
      // 2. the in-process worker: stop reading, finish attempts within SHUTDOWN_GRACE_MS;
      // 3. export the spans still buffered (every span has ended by now), for at most
      //    OTEL_EXPORTER_OTLP_TIMEOUT;
      // 4. close the queue's Redis connections, then the database — last, as the worker
      //    writes outcomes until step 2 ends.
      stopping ??= (async () => {
        await closeServer(server, HTTP_DRAIN_MS, () => services.logFeed.close());
        await withTimeout(services.submit.settled(), ENQUEUE_DRAIN_MS, 'the last enqueues').catch(
          (err: unknown) =>
            logger.warn({ err }, 'stopping with enqueues unfinished; the reconciler enqueues them'),
        );
        await worker?.worker.stop();
        await worker?.close();
        await tracing.shutdown();
        await closeQueue();
        await accessRedis?.quit().catch(() => accessRedis.disconnect());
        if (readDatabase !== database) await readDatabase.close();
        await database.close();
      })();
      return stopping;
    },
  };
}

/** Runs `serve` until SIGTERM/SIGINT. */
export async function runServe(config: Config, logger: Logger): Promise<void> {
  const running = await startServer(config, logger);
  // Requests in flight get up to HTTP_DRAIN_MS, their enqueues ENQUEUE_DRAIN_MS, then the
  // in-process worker its grace period.
  onShutdownSignals(
    logger,
    () => running.stop(),
    HTTP_DRAIN_MS +
      ENQUEUE_DRAIN_MS +
      (config.QUEUE_BACKEND === 'memory' ? config.SHUTDOWN_GRACE_MS : 0) +
      tracingShutdownMs(config) +
      SHUTDOWN_CLOSE_MS,
  );
}

/**
 * Stops accepting connections, ends what lasts until closed (`endLongLived`: the live tails),
 * and lets requests in flight finish for up to `graceMs`. A keep-alive connection whose
 * response has just ended is closed as soon as it is idle, not left to its idle timeout.
 */
export async function closeServer(
  server: ServerType,
  graceMs: number,
  endLongLived: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const http = server as Server;
  const closed = new Promise<void>((resolve) => http.close(() => resolve()));
  http.closeIdleConnections?.();
  const timer = setTimeout(() => http.closeAllConnections?.(), graceMs);
  const idle = setInterval(() => http.closeIdleConnections?.(), 50);
  try {
    // Within the same grace: a LISTEN that does not close (its database gone) holds nothing.
    await withTimeout(endLongLived(), graceMs, 'ending the live tails').catch(() => undefined);
    http.closeIdleConnections?.();
    await closed;
  } finally {
    clearTimeout(timer);
    clearInterval(idle);
  }
}
