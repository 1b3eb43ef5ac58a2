import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { builtinExecutors } from './executors';
import { Worker } from './worker';

/** A name unique to this process: the consumer name in Redis and the lease owner in the database. */
export function workerIdFor(config: Config): string {
  return config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface WorkerParts {
  config: Config;
  database: Database;
  queue: QueueBackend;
  catalog: TaskCatalog;
  events: TaskEvents;
  logger: Logger;
}

/** The worker with every built-in executor. */
export function buildWorker(p: WorkerParts): Worker {
  return new Worker({
    settings: p.config,
    database: p.database,
    queue: p.queue,
    catalog: p.catalog,
    executors: builtinExecutors({ config: p.config, logger: p.logger }),
    events: p.events,
    logger: p.logger,
    workerId: workerIdFor(p.config),
  });
}
