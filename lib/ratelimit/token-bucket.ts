import type { BucketDecision, BucketRule } from './rate-limiter';

/** A bucket as stored: tokens (fractional) at time `at` (ms). A missing bucket is full. */
export interface BucketState {
  tokens: number;
  at: number;
}

/**
 * The token bucket, as a pure function: refill since `state.at`, then take `cost` if at least
 * one token is there. bucket.include.lua is the same computation inside Redis; keep them equal.
 * Returns the decision and the state to store (null for a look that changes nothing).
 */
export function takeToken(
  state: BucketState | undefined,
  nowMs: number,
  rule: BucketRule,
  cost: 0 | 1,
): { decision: BucketDecision; next: BucketState | null } {
  const elapsed = state ? Math.max(0, nowMs - state.at) : 0;
  let tokens = state ? Math.min(rule.burst, state.tokens + (elapsed * rule.rate) / 1000) : rule.burst;
  const allowed = tokens >= 1;
  if (allowed) tokens -= cost;
  return {
    decision: {
      allowed,
      limit: rule.burst,
      remaining: Math.floor(tokens),
      retryAfterMs: allowed ? 0 : Math.ceil(((1 - tokens) * 1000) / rule.rate),
      resetMs: Math.ceil(((rule.burst - tokens) * 1000) / rule.rate),
    },
    next: cost > 0 && allowed ? { tokens, at: nowMs } : null,
  };
}

/** Milliseconds after which a bucket left alone is full again, so forgetting it changes nothing. */
export function msUntilFull(state: BucketState, rule: BucketRule): number {
  return Math.ceil(((rule.burst - state.tokens) * 1000) / rule.rate);
}
