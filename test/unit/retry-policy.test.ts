import { describe, expect, it } from 'vitest';
import { decideFailure, retryDelay } from '../../lib/tasks/retry-policy';

const settings = { baseMs: 100, maxMs: 5000 };
const retryable = { message: 'x', code: 'error', retryable: true };

describe('retry policy', () => {
  it('keeps backoff inside its full-jitter band [0, min(max, base·2^(n-1))]', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** (attempt - 1));
      const delays = Array.from({ length: 500 }, () => retryDelay(attempt, settings, random));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThan(ceiling);
      // Full jitter uses the whole band, not a sliver of it.
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.8);
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.2);
    }
    expect(retryDelay(1, settings, () => 0.999999)).toBe(99);
    expect(retryDelay(40, settings, () => 0.999999)).toBe(4999);
  });

  it('decides in one place: non-retryable dies, exhausted dies, Retry-After is honoured', () => {
    expect(decideFailure({ ...retryable, retryable: false, code: 'bad' }, 1, 5, settings)).toEqual({
      kind: 'dead',
      reason: 'non-retryable error (bad)',
    });
    expect(decideFailure(retryable, 3, 3, settings)).toEqual({
      kind: 'dead',
      reason: 'attempts exhausted (3 of 3)',
    });
    expect(decideFailure({ ...retryable, retryAfterMs: 7000 }, 1, 3, settings)).toEqual({
      kind: 'retry',
      delayMs: 7000,
    });
    expect(decideFailure(retryable, 2, 3, settings, () => 0.5)).toEqual({ kind: 'retry', delayMs: 100 });
  });
});
