import type { Redis } from 'ioredis';
import type { TokenRevocations } from '../auth/token-revocations';
import type { Logger } from '../logger';
import { withTimeout } from '../with-timeout';
import { defineLuaScripts, luaScript } from '../redis/lua-scripts';
import admitLua from './scripts/admit-3.lua?raw';
import type { MemoryRateLimiter } from './memory-rate-limiter';
import type { BucketDecision, BucketRule, RateLimiter } from './rate-limiter';
import { rateLimitKey } from './redis-rate-limiter';
import { revocationKey } from '../auth/redis-token-revocations';

/** What an authenticated request needs to know before it may run. */
export interface AdmissionRequest {
  addressKey: string;
  addressRule: BucketRule;
  tokenHash: string;
  userKey: string;
  userRule: BucketRule;
}

export interface Admission {
  /** The address's failed-authentication budget (looked at, not taken from). */
  address: BucketDecision;
  /** The token is marked revoked: only the database may say who it is. Null: unknown. */
  revoked: boolean | null;
  /** The user's bucket after taking one token; null when it was not asked. */
  user: BucketDecision | null;
}

/** Admission in one step: one Redis round trip per request on the API's hot path. */
export interface AccessGate {
  admit(req: AdmissionRequest): Promise<Admission>;
}

/**
 * The same decisions step by step: from this process's buckets and marks (the memory backend),
 * or from a Redis Cluster, where the address's bucket, the token's mark and the user's bucket
 * have different hash slots and so cannot be one script.
 */
export class StepwiseAccessGate implements AccessGate {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly revocations: TokenRevocations,
  ) {}

  async admit(req: AdmissionRequest): Promise<Admission> {
    const address = await this.limiter.take(req.addressKey, req.addressRule, 0);
    if (!address.allowed) return { address, revoked: false, user: null };
    const revoked = await this.revocations.isRevoked(req.tokenHash);
    if (revoked !== false) return { address, revoked, user: null };
    return { address, revoked, user: await this.limiter.take(req.userKey, req.userRule, 1) };
  }
}

const DOWN = new Set(['reconnecting', 'close', 'end']);

/**
 * admit-3.lua on a single Redis; when Redis cannot answer, this process's buckets decide and
 * revocation is unknown.
 */
export class RedisAccessGate implements AccessGate {
  private readonly run: (...args: (string | number)[]) => Promise<number[]>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly fallback: MemoryRateLimiter,
    private readonly logger: Logger,
    private readonly timeoutMs = 500,
  ) {
    const { procAdmit } = defineLuaScripts(redis, [luaScript('admit-3.lua', admitLua)]);
    this.run = procAdmit.bind(redis) as (...args: (string | number)[]) => Promise<number[]>;
  }

  async admit(req: AdmissionRequest): Promise<Admission> {
    if (DOWN.has(this.redis.status)) return this.local(req);
    this.degraded = false;
    try {
      const r = (
        await withTimeout(
          this.run(
            rateLimitKey(this.prefix, req.addressKey),
            revocationKey(this.prefix, req.tokenHash),
            rateLimitKey(this.prefix, req.userKey),
            req.addressRule.rate,
            req.addressRule.burst,
            req.userRule.rate,
            req.userRule.burst,
          ),
          this.timeoutMs,
          'Redis',
        )
      ).map(Number);
      const decision = (at: number, rule: BucketRule): BucketDecision => ({
        allowed: r[at] === 1,
        limit: rule.burst,
        remaining: r[at + 1]!,
        retryAfterMs: r[at + 2]!,
        resetMs: r[at + 3]!,
      });
      return {
        address: decision(0, req.addressRule),
        revoked: r[4] === 1,
        user: r[5] === -1 ? null : decision(5, req.userRule),
      };
    } catch (err) {
      if (!this.degraded)
        this.logger.warn({ err }, 'Redis did not answer the admission check; deciding in this process');
      this.degraded = true;
      return this.local(req);
    }
  }

  private degraded = false;

  private async local(req: AdmissionRequest): Promise<Admission> {
    const address = await this.fallback.take(req.addressKey, req.addressRule, 0);
    if (!address.allowed) return { address, revoked: null, user: null };
    // Revocation unknown without Redis: the caller asks the database, which is the record.
    return { address, revoked: null, user: null };
  }
}
