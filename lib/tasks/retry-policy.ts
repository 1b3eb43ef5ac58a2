import { backoffDelay } from '../backoff';
import type { TaskError } from './task';

export interface RetrySettings {
  baseMs: number;
  maxMs: number;
}

/** The wait before the retry of a failed attempt: exponential with full jitter (lib/backoff.ts). */
export function retryDelay(attempt: number, s: RetrySettings, random: () => number = Math.random): number {
  return backoffDelay(attempt, { ...s, jitter: 'full' }, random);
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
      return { kind: 'retry', delayMs: retryDelay(attempts, s, random) };
  }
}
