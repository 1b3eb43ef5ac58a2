import type { Logger } from '../logger';
import type { RedisClient } from '../redis/client';
import { isCluster } from '../redis/client';

/**
 * The keys of the first releases' layout, before per-queue hash tags, all under `{prefix}`:
 * `{prefix}:index`, `{prefix}:dlq`, `{prefix}:stream:<queue>:<priority>`,
 * `{prefix}:delayed:<queue>`. Nothing reads them any more.
 */
const LEGACY_PATTERNS = (prefix: string) => [`{${prefix}}:stream:*`, `{${prefix}}:delayed:*`];

/**
 * Removes the old layout's keys, once, when a worker starts. Their tasks are not lost: the
 * database is the record, and the reconciler's first pass (at start) queues every task that
 * should be queued again under the new layout. Only a single Redis can hold them (the old
 * layout had no cluster client). Returns how many keys went.
 */
export async function dropLegacyLayout(redis: RedisClient, prefix: string, logger: Logger): Promise<number> {
  if (isCluster(redis)) return 0;
  const keys = [`{${prefix}}:index`, `{${prefix}}:dlq`];
  for (const pattern of LEGACY_PATTERNS(prefix)) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  let removed = 0;
  for (let i = 0; i < keys.length; i += 500) removed += await redis.unlink(...keys.slice(i, i + 500));
  if (removed > 0) {
    logger.warn(
      { removed, prefix },
      'removed the Redis keys of the layout before per-queue hash tags; the reconciler queues their tasks again from the database',
    );
  }
  return removed;
}
