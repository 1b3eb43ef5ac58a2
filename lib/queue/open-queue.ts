import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Config } from '../config';
import type { RedisClient } from '../redis/client';
import { backoffDelay } from '../backoff';
import type { Logger } from '../logger';

/** Waits between reconnects to Redis: 100 ms doubling to 2 s. */
const RECONNECT_BACKOFF = { baseMs: 100, maxMs: 2000, jitter: 'none' } as const;
import { MemoryQueue } from './memory-queue';
import type { QueueBackend } from './queue-backend';
import { RedisQueue } from './redis-queue';

/**
 * The Redis the configuration names, as a client that reports its failures to the log instead
 * of crashing the process: a cluster client when REDIS_CLUSTER_NODES is set (REDIS_URL then
 * only gives the credentials and TLS every node is reached with), else a single Redis.
 */
export function openRedis(
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>,
  logger: Logger,
  name: string,
): RedisClient {
  const options: RedisOptions = {
    connectionName: `procurator-${name}`,
    // Fail commands fast while Redis is down (the API answers 503, the worker backs off)
    // instead of queueing them without bound.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => backoffDelay(times, RECONNECT_BACKOFF),
    lazyConnect: false,
  };
  // No auto-pipelining: it holds every command until the next turn of the event loop
  // (+0.45 ms a round trip here), which sequential calls on a request's path pay each time.
  // Where batching pays, it is explicit (coalesced acks, enqueues, claims).
  const redis: RedisClient = config.REDIS_CLUSTER_NODES
    ? new Cluster(clusterSeeds(config.REDIS_CLUSTER_NODES), {
        redisOptions: { ...options, ...credentialsOf(config.REDIS_URL) },
        clusterRetryStrategy: (times) => backoffDelay(times, RECONNECT_BACKOFF),
        enableOfflineQueue: true,
        enableAutoPipelining: false,
        // After a failover the replica that took over answers MOVED; the client follows it
        // and refreshes its slot map (also every 5 s, and when a node goes away).
        slotsRefreshInterval: 5000,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 300,
        retryDelayOnTryAgain: 100,
        maxRedirections: 16,
      })
    : new Redis(config.REDIS_URL, { ...options, enableAutoPipelining: false });
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
  redis?: RedisClient;
  /** Closes the queue and the clients opened for it. */
  close: () => Promise<void>;
}

/** The queue the configuration names; Redis connections are opened and owned here. */
export function openQueue(config: Config, logger: Logger, role: string): OpenedQueue {
  if (config.QUEUE_BACKEND === 'memory') {
    const queue = new MemoryQueue();
    return { queue, close: () => queue.close() };
  }
  const redis = openRedis(config, logger, role);
  let n = 0;
  const queue = new RedisQueue(redis, {
    prefix: config.REDIS_PREFIX,
    openConnection: () => openRedis(config, logger, `${role}-${++n}`),
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

/** `host:port,host:port` → the cluster client's seed list. */
function clusterSeeds(nodes: string): { host: string; port: number }[] {
  return nodes.split(',').map((seed) => {
    const at = seed.trim().lastIndexOf(':');
    return { host: seed.trim().slice(0, at), port: Number(seed.trim().slice(at + 1)) };
  });
}

/** What a cluster's nodes are reached with, taken from REDIS_URL: user, password, TLS. */
function credentialsOf(url: string): Partial<RedisOptions> {
  const u = new URL(url);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
