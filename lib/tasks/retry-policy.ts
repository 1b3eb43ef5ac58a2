import type { TaskError } from './task';

export interface RetrySettings {
  baseMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^(attempt-1))].
 * Full jitter spreads a burst of failures instead of retrying them in lockstep.
 */
export function backoffDelay(attempt: number, s: RetrySettings, random: () => number = Math.random): number {
  const ceiling = Math.min(s.maxMs, s.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}

/** The longest an upstream's Retry-After is honoured: a day. */
const MAX_RETRY_AFTER_MS = 86_400_000;

export type FailureDecision = { kind: 'retry'; delayMs: number } | { kind: 'dead'; reason: string };

/** What happens to a task whose attempt failed: the one place retry decisions are made. */
export function decideFailure(
  error: TaskError & { retryAfterMs?: number },
  attempts: number,
  maxAttempts: number,
  s: RetrySettings,
  random: () => number = Math.random,
): FailureDecision {
  switch (true) {
    case !error.retryable:
      return { kind: 'dead', reason: `non-retryable error (${error.code})` };
    case attempts >= maxAttempts:
      return { kind: 'dead', reason: `attempts exhausted (${attempts} of ${maxAttempts})` };
    case error.retryAfterMs !== undefined:
      return { kind: 'retry', delayMs: Math.min(Math.max(0, error.retryAfterMs), MAX_RETRY_AFTER_MS) };
    default:
      return { kind: 'retry', delayMs: backoffDelay(attempts, s, random) };
  }
}
