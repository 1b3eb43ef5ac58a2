import type { Context, MiddlewareHandler } from 'hono';
import type { Principal } from '../../lib/auth/roles';
import { RateLimitedError, UnauthorizedError } from '../../lib/errors';
import { lazyChild } from '../../lib/logger';
import type { Authenticator } from '../../lib/auth/authenticator';
import type { Metrics } from '../../lib/observability/metrics';
import type { AccessGate } from '../../lib/ratelimit/admission';
import type { BucketDecision, BucketRule, RateLimiter } from '../../lib/ratelimit/rate-limiter';
import type { ApiSettings, AppEnv } from '../context';
import { presentedToken } from './auth';
import { clientAddress } from './client-address';
import { rateLimitHeaders, setRateLimitHeaders, userRule } from './rate-limit';

/**
 * Who may make this /v1 request, and may they make it now — one step, in the order that
 * leaks nothing:
 * 1. an address with no failed-authentication budget left gets 429, whatever token it sends
 *    (a valid one included, so a blocked guesser learns nothing);
 * 2. the token: missing, malformed, unknown and revoked tokens all get the same 401, and each
 *    401 takes from the address's budget (AUTH_FAILURES_PER_MINUTE, refilled over a minute);
 * 3. the user's own bucket (RATE_LIMIT_RPS / RATE_LIMIT_BURST, or its rateLimitRps): 429 with
 *    Retry-After when empty. Every answer carries RateLimit-*.
 * For a token this process has cached, 1, the revocation mark and 3 are one Redis round trip
 * (admit-3.lua); otherwise the database says who the token is.
 */
export interface AdmissionDeps {
  auth: Authenticator;
  gate: AccessGate;
  rateLimiter: RateLimiter;
  metrics: Pick<Metrics, 'rateLimited'>;
  settings: Pick<
    ApiSettings,
    'TRUST_PROXY' | 'AUTH_FAILURES_PER_MINUTE' | 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST'
  >;
}

export function admission(d: AdmissionDeps): MiddlewareHandler<AppEnv> {
  const { auth, gate, rateLimiter, metrics, settings: config } = d;
  return async (c, next) => {
    const token = presentedToken((n) => c.req.header(n));
    const address = clientAddress(c, config.TRUST_PROXY);
    const { key: addressKey, rule: addressRule } = authFailureBudget(address, config);

    let principal: Principal | null = null;
    let user: BucketDecision | null = null;
    const cached = auth.cached(token);
    if (cached) {
      const a = await gate.admit({
        addressKey,
        addressRule,
        tokenHash: cached.digest,
        userKey: `user:${cached.principal.id}`,
        userRule: userRule(cached.principal.rateLimitRps, config),
      });
      if (!a.address.allowed) throw throttled(a.address, metrics);
      if (a.revoked === false && a.user) {
        principal = cached.principal;
        user = a.user;
        auth.recordUse(principal);
      } else {
        // Marked revoked, or Redis could not tell: only the database may answer.
        auth.forget([cached.digest]);
      }
    } else {
      const look = await rateLimiter.take(addressKey, addressRule, 0);
      if (!look.allowed) throw throttled(look, metrics);
    }
    if (!principal) {
      principal = await auth.authenticate(token);
      if (!principal) {
        await recordFailure(c, rateLimiter, addressKey, addressRule, address);
        throw new UnauthorizedError();
      }
      const rule = userRule(principal.rateLimitRps, config);
      user = await rateLimiter.take(`user:${principal.id}`, rule, 1);
    }
    if (!user!.allowed) {
      metrics.rateLimited.inc();
      const rule = userRule(principal.rateLimitRps, config);
      throw new RateLimitedError(
        `Rate limit reached: ${rule.rate} requests a second, bursts of ${rule.burst}.`,
        user!.retryAfterMs / 1000,
        rateLimitHeaders(user!),
      );
    }
    c.set('principal', principal);
    c.set('logger', lazyChild(c.get('logger'), { userId: principal.id }));
    // Set before the handler, so the headers are part of the answer when it is made.
    setRateLimitHeaders(c, user!);
    await next();
  };
}

/**
 * An address's budget of failed authentications (AUTH_FAILURES_PER_MINUTE, refilled over a
 * minute): one bucket per address, which the console's sign-in spends from too.
 */
export function authFailureBudget(
  address: string,
  settings: Pick<ApiSettings, 'AUTH_FAILURES_PER_MINUTE'>,
): { key: string; rule: BucketRule } {
  return {
    key: `authfail:${address}`,
    rule: { rate: settings.AUTH_FAILURES_PER_MINUTE / 60, burst: settings.AUTH_FAILURES_PER_MINUTE },
  };
}

function throttled(d: BucketDecision, metrics: AdmissionDeps['metrics']): RateLimitedError {
  metrics.rateLimited.inc();
  return new RateLimitedError(
    'Too many failed authentications from your address; try again later.',
    d.retryAfterMs / 1000,
    rateLimitHeaders(d),
  );
}

/** A 401 spends a token of the address's budget; its RateLimit-* then describe that budget. */
async function recordFailure(
  c: Context<AppEnv>,
  rateLimiter: RateLimiter,
  key: string,
  rule: BucketRule,
  address: string,
): Promise<void> {
  const after = await rateLimiter.take(key, rule, 1);
  setRateLimitHeaders(c, after);
  if (after.remaining === 0) {
    c.get('logger').warn({ address }, 'failed authentications exhausted; this address now gets 429');
  }
}
