import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import { FeishuClient } from '../lib/feishu/feishu-client';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { SafeOutboundClient } from '../lib/outbound/safe-outbound-client';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { DeadLetterAlerter } from './dead-letter-alerter';
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

export interface BuiltWorker {
  worker: Worker;
  /** Closes the clients built here (outbound HTTP); call after worker.stop(). */
  close: () => Promise<void>;
}

/**
 * The worker with every built-in executor, its outbound HTTP client and, when a Feishu bot is
 * configured, the dead-letter alerter.
 */
export function buildWorker(p: WorkerParts): BuiltWorker {
  const { config, logger } = p;
  const outbound = new SafeOutboundClient({ policy: addressPolicyFromConfig(config) });
  const feishu = config.FEISHU_WEBHOOK_URL
    ? new FeishuClient({ webhookUrl: config.FEISHU_WEBHOOK_URL, secret: config.FEISHU_SECRET, outbound })
    : null;
  const worker = new Worker({
    settings: config,
    database: p.database,
    queue: p.queue,
    catalog: p.catalog,
    executors: builtinExecutors({ config, logger, outbound, feishu }),
    events: p.events,
    logger,
    workerId: workerIdFor(config),
    components: feishu ? [new DeadLetterAlerter({ events: p.events, sender: feishu, logger })] : [],
  });
  return { worker, close: () => outbound.close() };
}
