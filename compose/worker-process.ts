import type { Config } from '../lib/config';
import { openDatabase } from '../lib/db/open';
import type { Logger } from '../lib/logger';
import { EventBus } from '../lib/observability/event-bus';
import { attachDependencyGauge, attachTaskMetrics, createMetrics } from '../lib/observability/metrics';
import type { TaskEventMap } from '../lib/observability/task-events';
import { dropLegacyLayout } from '../lib/queue/legacy-layout';
import { openQueue } from '../lib/queue/open-queue';
import { SHUTDOWN_CLOSE_MS, onShutdownSignals } from '../lib/shutdown';
import { openTracing, tracingShutdownMs } from '../lib/tracing/open-tracing';
import { dependencyProbes } from './build-api';
import { buildWorker } from './build-worker';
import { startMetricsServer } from './metrics-server';
import { builtinCatalog } from './task-catalog';

export interface RunningWorker {
  metricsPort: number;
  stop(): Promise<void>;
}

/** `procurator worker`: the long-lived worker process over Redis and PostgreSQL. */
export async function startWorker(config: Config, logger: Logger): Promise<RunningWorker> {
  if (config.QUEUE_BACKEND === 'memory') {
    throw new Error(
      'procurator worker needs QUEUE_BACKEND=redis: with the memory queue the worker runs inside ' +
        '`procurator serve`, which is the only process that can see that queue.',
    );
  }
  const database = await openDatabase(config, logger);
  const { queue, redis, close: closeQueue } = openQueue(config, logger, 'worker');
  const events = new EventBus<TaskEventMap>(logger);
  const metrics = createMetrics();
  attachTaskMetrics(events, metrics);
  attachDependencyGauge(metrics, dependencyProbes(database, queue));
  const tracing = await openTracing(config, logger);
  const built = buildWorker({
    redis,
    config,
    database,
    queue,
    catalog: builtinCatalog(config),
    events,
    logger,
    tracing,
  });
  const { worker, close: closeWorkerClients } = built;
  // An upgrade from the layout before per-queue hash tags: see "Redis Cluster" in the README.
  if (redis) await dropLegacyLayout(redis, config.REDIS_PREFIX, logger);
  await built.start();
  const server = await startMetricsServer({ metrics, config, logger });
  logger.info({ metricsPort: server.port }, 'worker metrics listening');

  let stopping: Promise<void> | undefined;
  return {
    metricsPort: server.port,
    stop() {
      // Shutdown order: the worker (stop reading, finish in flight within SHUTDOWN_GRACE_MS,
      // stop its helpers), then the metrics server, then the spans still buffered (all have
      // ended with the worker; at most OTEL_EXPORTER_OTLP_TIMEOUT), then the queue's Redis
      // connections and the database pool, last because the worker writes outcomes until it
      // stops.
      stopping ??= (async () => {
        await worker.stop();
        await server.close();
        await tracing.shutdown();
        await closeWorkerClients();
        await closeQueue();
        await database.close();
      })();
      return stopping;
    },
  };
}

/** Runs the worker until SIGTERM/SIGINT. */
export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const running = await startWorker(config, logger);
  onShutdownSignals(
    logger,
    () => running.stop(),
    config.SHUTDOWN_GRACE_MS + tracingShutdownMs(config) + SHUTDOWN_CLOSE_MS,
  );
}
