import type { ServerType } from '@hono/node-server';
import { listenHttp } from '../lib/http-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { prepareBackups } from '../lib/backup/prepare-backups';
import { builtinCatalog } from '../lib/catalog/builtin-catalog';
import type { Config } from '../lib/config';
import { openDatabase } from '../lib/db/open';
import type { Logger } from '../lib/logger';
import { EventBus } from '../lib/observability/event-bus';
import { attachTaskMetrics, createMetrics } from '../lib/observability/metrics';
import type { Metrics } from '../lib/observability/metrics';
import type { TaskEventMap } from '../lib/observability/task-events';
import { openQueue } from '../lib/queue/open-queue';
import { onShutdownSignals } from '../lib/shutdown';
import { buildWorker } from './build-worker';

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
  const { worker, close: closeWorkerClients } = buildWorker({
    redis,
    config,
    database,
    queue,
    catalog: builtinCatalog(config),
    events,
    logger,
  });
  // Before the first task: what dumps of killed workers left in BACKUP_DIR goes now.
  await prepareBackups({ backupDir: config.BACKUP_DIR, targets: Object.keys(config.BACKUP_TARGETS), logger });
  await worker.start();
  const server = await metricsServer(metrics, config.WORKER_METRICS_PORT, config.SERVER_HOST);
  const address = server.address();
  const metricsPort = typeof address === 'object' && address ? address.port : config.WORKER_METRICS_PORT;
  logger.info({ metricsPort }, 'worker metrics listening');

  let stopping: Promise<void> | undefined;
  return {
    metricsPort,
    stop() {
      // Shutdown order: the worker (stop reading, finish in flight within SHUTDOWN_GRACE_MS,
      // stop its helpers), then the metrics server, then the queue's Redis connections and
      // the database pool, last because the worker writes outcomes until it stops.
      stopping ??= (async () => {
        await worker.stop();
        await new Promise<void>((resolve) => {
          (server as Server).close(() => resolve());
          (server as Server).closeAllConnections();
        });
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
  onShutdownSignals(logger, () => running.stop());
}

function metricsServer(metrics: Metrics, port: number, hostname: string): Promise<ServerType> {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) =>
    c.text(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );
  return listenHttp((req) => app.fetch(req), hostname, port);
}
