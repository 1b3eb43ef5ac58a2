import type { MiddlewareHandler } from 'hono';
import { RateLimitedError } from '../../lib/errors';
import type { AppEnv } from '../context';
import { clientAddress } from './client-address';
import { rateLimitHeaders, setRateLimitHeaders } from './rate-limit';

/**
 * Throttles failed authentication per client address, so tokens cannot be guessed: each 401
 * takes a token from the address's bucket (AUTH_FAILURES_PER_MINUTE, refilled over a
 * minute), and an address with none left gets 429 whatever token it sends — a valid one
 * included, so a blocked guesser learns nothing. Runs before authentication; looking at the
 * bucket writes nothing, so addresses that never fail cost no memory.
 */
export function throttleFailedAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const { config, rateLimiter, metrics } = c.get('deps');
    const perMinute = config.AUTH_FAILURES_PER_MINUTE;
    const rule = { rate: perMinute / 60, burst: perMinute };
    const address = clientAddress(c, config.TRUST_PROXY);
    const key = `authfail:${address}`;
    const gate = await rateLimiter.take(key, rule, 0);
    if (!gate.allowed) {
      metrics.rateLimited.inc();
      throw new RateLimitedError(
        'Too many failed authentications from your address; try again later.',
        gate.retryAfterMs / 1000,
        rateLimitHeaders(gate),
      );
    }
    await next();
    if (c.res.status !== 401) return;
    const after = await rateLimiter.take(key, rule, 1);
    // On a 401 the RateLimit-* headers describe the address's failed-authentication budget.
    setRateLimitHeaders(c, after);
    if (after.remaining === 0) {
      c.get('logger').warn({ address }, 'failed authentications exhausted; this address now gets 429');
    }
  };
}
