import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisKeys } from '../../lib/queue/keys';
import type { RedisClient } from '../../lib/redis/client';
import { isCluster } from '../../lib/redis/client';
import { REDIS_URL } from './pg-urls';

/** A key prefix no other test uses; every key of the test lives under `{prefix}` or `{prefix:…}`. */
export function testPrefix(label = 't'): string {
  return `ptest-${label}-${randomBytes(4).toString('hex')}`;
}

export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 2, lazyConnect: false });
}

/**
 * Deletes every key under a prefix (tests clean up after themselves): on a cluster, on each
 * master, one key at a time (keys of different slots cannot go in one DEL).
 */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', redisKeys(prefix).pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        if (isCluster(redis)) await Promise.all(keys.map((k) => node.del(k)));
        else await node.del(...keys);
      }
    } while (cursor !== '0');
  }
}
