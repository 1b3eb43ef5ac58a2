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
import type { Redis } from 'ioredis';
import { FlowLimits } from '../lib/flow/flow-limits';
import type { FlowGate } from '../lib/flow/flow-limits';
import { MemoryFlowGate } from '../lib/flow/memory-flow-gate';
import { RedisFlowGate } from '../lib/flow/redis-flow-gate';
import { signingKeyStore } from '../lib/signing/key-store';
import { CallbackDeliverer } from './callback-deliverer';
import { DeadLetterAlerter } from './dead-letter-alerter';
import { builtinExecutors } from './executors';
import { Worker } from './worker';

/** A name unique to this process: the consumer name in Redis and the lease owner in the database. */
export function workerIdFor(config: Config): string {
  return config.WORKER_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export interface WorkerParts {
  /** The queue's Redis client when QUEUE_BACKEND=redis (flow limits are kept there). */
  redis?: Redis;
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
 * The worker with every built-in executor, its outbound HTTP client, the callback deliverer
 * and, when a Feishu bot is configured, the dead-letter alerter.
 */
export function buildWorker(p: WorkerParts): BuiltWorker {
  const { config, logger } = p;
  const outbound = new SafeOutboundClient({ policy: addressPolicyFromConfig(config) });
  const feishu = config.FEISHU_WEBHOOK_URL
    ? new FeishuClient({ webhookUrl: config.FEISHU_WEBHOOK_URL, secret: config.FEISHU_SECRET, outbound })
    : null;
  const workerId = workerIdFor(config);
  // Signed completion callbacks go out through the same outbound client (and SSRF policy).
  const callbacks = new CallbackDeliverer({
    database: p.database,
    outbound,
    keys: signingKeyStore(config, p.database),
    logger,
    workerId,
  });
  const worker = new Worker({
    settings: config,
    database: p.database,
    queue: p.queue,
    catalog: p.catalog,
    executors: builtinExecutors({ config, logger, outbound, feishu }),
    events: p.events,
    logger,
    workerId,
    flow: flowFor(p),
    components: feishu
      ? [callbacks, new DeadLetterAlerter({ events: p.events, sender: feishu, logger })]
      : [callbacks],
  });
  return { worker, close: () => outbound.close() };
}

/** FLOW_LIMITS and the gate that enforces them: in Redis (shared by all workers) or in memory. */
function flowFor(p: WorkerParts): { limits: FlowLimits; gate: FlowGate } | undefined {
  const limits = new FlowLimits(p.config.FLOW_LIMITS);
  if (limits.empty) return undefined;
  const gate = p.redis ? new RedisFlowGate(p.redis, p.config.REDIS_PREFIX) : new MemoryFlowGate();
  return { limits, gate };
}
