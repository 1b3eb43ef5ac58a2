import type { RedisClient } from '../redis/client';
import { isCluster } from '../redis/client';
import type { Logger } from '../logger';
import { MemoryRateLimiter } from '../ratelimit/memory-rate-limiter';
import type { RateLimiter } from '../ratelimit/rate-limiter';
import { RedisRateLimiter } from '../ratelimit/redis-rate-limiter';
import { RedisAccessGate, StepwiseAccessGate } from '../ratelimit/admission';
import type { AccessGate } from '../ratelimit/admission';
import { RedisTokenRevocations } from './redis-token-revocations';
import type { TokenRevocations } from './token-revocations';
import { MemoryTokenRevocations } from './token-revocations';

export interface AccessBackends {
  rateLimiter: RateLimiter;
  revocations: TokenRevocations;
  /** The one-step admission of authenticated requests, over the same buckets and marks. */
  gate: AccessGate;
}

/**
 * Rate-limit buckets and revocation marks. With a Redis client (QUEUE_BACKEND=redis: there
 * may be many API replicas) they live in Redis, each under its own `{prefix:…}` tag, shared
 * by every replica; without one (the memory backend: one process) they live in this process.
 */
export function accessBackends(redis: RedisClient | null, prefix: string, logger: Logger): AccessBackends {
  if (!redis) {
    const rateLimiter = new MemoryRateLimiter();
    const revocations = new MemoryTokenRevocations();
    return { rateLimiter, revocations, gate: new StepwiseAccessGate(rateLimiter, revocations) };
  }
  const rateLimiter = new RedisRateLimiter(redis, { prefix }, logger);
  const revocations = new RedisTokenRevocations(redis, prefix);
  return {
    rateLimiter,
    revocations,
    gate: isCluster(redis)
      ? new StepwiseAccessGate(rateLimiter, revocations)
      : new RedisAccessGate(redis, prefix, new MemoryRateLimiter(), logger),
  };
}
