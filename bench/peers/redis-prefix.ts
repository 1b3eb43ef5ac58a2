import { Redis } from 'ioredis';

/** Deletes every key under `prefix:` (SCAN, never KEYS): a peer's leftovers after its run. */
export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  if (!/^bench-[\w-]+$/.test(prefix)) throw new Error(`refusing to delete keys under '${prefix}'`);
  const redis = new Redis(redisUrl, { lazyConnect: true, retryStrategy: () => null });
  redis.on('error', () => undefined); // surfaces through connect() and the commands
  await redis.connect();
  try {
    return await unlinkMatching(redis, `${prefix}:*`);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key matching the SCAN pattern (never KEYS). Returns how many went. */
export async function unlinkMatching(redis: Redis, pattern: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
