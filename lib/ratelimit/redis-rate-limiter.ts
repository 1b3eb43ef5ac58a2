import type { RedisClient } from '../redis/client';
import type { Logger } from '../logger';
import { withTimeout } from '../with-timeout';
import { MemoryRateLimiter } from './memory-rate-limiter';
import type { BucketDecision, BucketRule, RateLimiter } from './rate-limiter';
import { defineLuaScripts, luaScript } from '../redis/lua-scripts';
import takeTokenLua from './scripts/take-token-1.lua?raw';

type TakeToken = (key: string, rate: number, burst: number, cost: number) => Promise<number[]>;

/** States in which a command would only wait in ioredis's offline queue. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

export interface RedisRateLimiterOptions {
  prefix: string;
  /** Longest wait for Redis before this one decision is taken locally. */
  timeoutMs?: number;
}

/**
 * Token buckets in Redis, shared by every API replica (take-token-1.lua). When Redis is
 * unreachable the limiter fails over to this process's own buckets rather than refusing
 * traffic or letting it all through: limits then hold per replica, and a warning says so.
 * (Rate limits protect fairness; the record of tasks is in the database, and the queue
 * already accepts tasks while Redis is down.)
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly fallback = new MemoryRateLimiter();
  private readonly run: TakeToken;
  private readonly timeoutMs: number;
  private degraded = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisRateLimiterOptions,
    private readonly logger: Logger,
  ) {
    const { procTakeToken } = defineLuaScripts(redis, [luaScript('take-token-1.lua', takeTokenLua)]);
    this.run = procTakeToken.bind(redis) as TakeToken;
    this.timeoutMs = options.timeoutMs ?? 500;
  }

  async take(key: string, rule: BucketRule, cost: 0 | 1 = 1): Promise<BucketDecision> {
    if (DOWN.has(this.redis.status)) return this.local(key, rule, cost, `Redis is ${this.redis.status}`);
    try {
      const bucket = rateLimitKey(this.options.prefix, key);
      const reply = await withTimeout(this.run(bucket, rule.rate, rule.burst, cost), this.timeoutMs, 'Redis');
      if (this.degraded) {
        this.degraded = false;
        this.logger.info('rate limits are shared through Redis again');
      }
      const [allowed, remaining, retryAfterMs, resetMs] = reply.map(Number) as [
        number,
        number,
        number,
        number,
      ];
      return { allowed: allowed === 1, limit: rule.burst, remaining, retryAfterMs, resetMs };
    } catch (err) {
      return this.local(key, rule, cost, err);
    }
  }

  private local(key: string, rule: BucketRule, cost: 0 | 1, reason: unknown): Promise<BucketDecision> {
    if (!this.degraded) {
      this.degraded = true;
      this.logger.warn(
        { err: reason },
        'Redis unreachable: rate limits now hold per API process until it is back',
      );
    }
    return this.fallback.take(key, rule, cost);
  }
}

/**
 * The bucket of one key (a user, a client address), under its own hash tag so that buckets
 * spread over a Redis Cluster's shards.
 */
export function rateLimitKey(prefix: string, key: string): string {
  return `{${prefix}:${key}}:ratelimit`;
}
