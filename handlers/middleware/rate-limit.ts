import type { Context, MiddlewareHandler } from 'hono';
import type { BucketDecision, BucketRule } from '../../lib/ratelimit/rate-limiter';
import { RateLimitedError } from '../../lib/errors';
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

/**
 * Per-user token bucket for every authenticated /v1 request, before the role check and the
 * handler: every answer carries RateLimit-*, and a refusal is 429 with Retry-After.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { config, rateLimiter, metrics } = c.get('deps');
    const principal = c.get('principal');
    const rule = userRule(principal.rateLimitRps, config);
    const decision = await rateLimiter.take(`user:${principal.id}`, rule, 1);
    if (!decision.allowed) {
      metrics.rateLimited.inc();
      throw new RateLimitedError(
        `Rate limit reached: ${rule.rate} requests a second, bursts of ${rule.burst}.`,
        decision.retryAfterMs / 1000,
        rateLimitHeaders(decision),
      );
    }
    // Before the handler, so the headers are part of the answer when it is made.
    setRateLimitHeaders(c, decision);
    await next();
  };
}
