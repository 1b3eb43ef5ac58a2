import type { RedisClient } from '../redis/client';
import { inOneTrip } from '../redis/one-trip';
import { withTimeout } from '../with-timeout';
import type { TokenRevocations } from './token-revocations';
import { REVOCATION_MARK_MS } from './token-revocations';

/** States in which a command would only wait in ioredis's offline queue. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

/**
 * Revocation marks as Redis keys `{prefix:<token hash>}:revoked` that expire after
 * REVOCATION_MARK_MS: every API process checks them on each cached authentication. A key
 * per hash (not a pub/sub message) cannot be missed by a process that was briefly
 * disconnected, and it is there before the rotating request is answered.
 */
export class RedisTokenRevocations implements TokenRevocations {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly timeoutMs = 500,
  ) {}

  async revoke(tokenHashes: readonly string[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    const trip = inOneTrip(this.redis, (target) => {
      for (const hash of tokenHashes)
        void target.set(revocationKey(this.prefix, hash), '1', 'PX', REVOCATION_MARK_MS);
    });
    const results = await withTimeout(trip, this.timeoutMs * 4, 'Redis');
    const failed = results.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  async isRevoked(tokenHash: string): Promise<boolean | null> {
    if (DOWN.has(this.redis.status)) return null;
    try {
      return (
        (await withTimeout(
          this.redis.exists(revocationKey(this.prefix, tokenHash)),
          this.timeoutMs,
          'Redis',
        )) === 1
      );
    } catch {
      return null;
    }
  }
}

/** The mark of one token hash, under its own hash tag (marks spread over a cluster's shards). */
export function revocationKey(prefix: string, tokenHash: string): string {
  return `{${prefix}:${tokenHash}}:revoked`;
}
