import { Redis } from 'ioredis';
import type { Config } from '../config';
import { backoffDelay } from '../backoff';
import type { Logger } from '../logger';

/** Waits between reconnects to Redis: 100 ms doubling to 2 s. */
const RECONNECT_BACKOFF = { baseMs: 100, maxMs: 2000, jitter: 'none' } as const;
import { MemoryQueue } from './memory-queue';
import type { QueueBackend } from './queue-backend';
import { RedisQueue } from './redis-queue';

/** A Redis client that reports its failures to the log instead of crashing the process. */
export function openRedis(url: string, logger: Logger, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: `procurator-${name}`,
    // Fail commands fast while Redis is down (the API answers 503, the worker backs off)
    // instead of queueing them without bound.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => backoffDelay(times, RECONNECT_BACKOFF),
    // No auto-pipelining: it holds every command until the next turn of the event loop
    // (+0.45 ms a round trip here), which sequential calls on a request's path pay each time.
    // Where batching pays, it is explicit (coalesced acks, enqueues, claims).
    enableAutoPipelining: false,
    lazyConnect: false,
  });
  let reported = false;
  redis.on('error', (err) => {
    if (!reported) logger.warn({ err, connection: name }, 'Redis connection error');
    reported = true;
  });
  redis.on('ready', () => {
    if (reported) logger.info({ connection: name }, 'Redis connection restored');
    reported = false;
  });
  return redis;
}

export interface OpenedQueue {
  queue: QueueBackend;
  /** The main Redis client (QUEUE_BACKEND=redis), for other Redis-backed components to share. */
  redis?: Redis;
  /** Closes the queue and the clients opened for it. */
  close: () => Promise<void>;
}

/** The queue the configuration names; Redis connections are opened and owned here. */
export function openQueue(config: Config, logger: Logger, role: string): OpenedQueue {
  if (config.QUEUE_BACKEND === 'memory') {
    const queue = new MemoryQueue();
    return { queue, close: () => queue.close() };
  }
  const redis = openRedis(config.REDIS_URL, logger, role);
  let n = 0;
  const queue = new RedisQueue(redis, {
    prefix: config.REDIS_PREFIX,
    openConnection: () => openRedis(config.REDIS_URL, logger, `${role}-${++n}`),
  });
  return {
    queue,
    redis,
    close: async () => {
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
