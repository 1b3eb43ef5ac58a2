import type { Context } from 'hono';
import type { BucketDecision, BucketRule } from '../../lib/ratelimit/rate-limiter';
import type { AppEnv } from '../context';

/** The RateLimit-* headers of a decision; Reset is the seconds until the bucket is full. */
export function rateLimitHeaders(d: BucketDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(d.limit),
    'RateLimit-Remaining': String(d.remaining),
    'RateLimit-Reset': String(Math.ceil(d.resetMs / 1000)),
  };
}

export function setRateLimitHeaders(c: Context<AppEnv>, d: BucketDecision): void {
  for (const [name, value] of Object.entries(rateLimitHeaders(d))) c.header(name, value);
}

/** A user's bucket: its own `rateLimitRps` with a burst of twice that, else the defaults. */
export function userRule(
  rateLimitRps: number | null,
  config: { RATE_LIMIT_RPS: number; RATE_LIMIT_BURST: number },
): BucketRule {
  return rateLimitRps
    ? { rate: rateLimitRps, burst: 2 * rateLimitRps }
    : { rate: config.RATE_LIMIT_RPS, burst: config.RATE_LIMIT_BURST };
}
