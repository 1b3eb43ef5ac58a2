import type { BucketDecision, BucketRule, RateLimiter } from './rate-limiter';
import type { BucketState } from './token-bucket';
import { msUntilFull, takeToken } from './token-bucket';

/** Past this many buckets, full ones are dropped (a full bucket and no bucket are the same). */
const SWEEP_ABOVE = 50_000;

/** Token buckets in this process: the memory backend's limiter, and Redis's fallback. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { state: BucketState; fullAt: number }>();

  /** `now` is injectable so tests can move time. */
  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, rule: BucketRule, cost: 0 | 1 = 1): Promise<BucketDecision> {
    const now = this.now();
    const held = this.buckets.get(key);
    const { decision, next } = takeToken(held?.state, now, rule, cost);
    if (next) {
      this.buckets.set(key, { state: next, fullAt: now + msUntilFull(next, rule) });
      if (this.buckets.size > SWEEP_ABOVE) this.sweep(now);
    }
    return Promise.resolve(decision);
  }

  /** How many buckets are held (for tests of the sweep). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    for (const [key, b] of this.buckets) if (b.fullAt <= now) this.buckets.delete(key);
  }
}
