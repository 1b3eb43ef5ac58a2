import type { Cluster, Redis } from 'ioredis';

/** A single Redis or a Redis Cluster: most commands are the same on both. */
export type RedisClient = Redis | Cluster;

/** True for a Redis Cluster client: keys of different hash slots need different calls. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}
