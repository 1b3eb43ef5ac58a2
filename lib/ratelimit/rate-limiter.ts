/** A token bucket's settings: `rate` tokens a second, at most `burst` stored. */
export interface BucketRule {
  rate: number;
  burst: number;
}

/** What a bucket said about one request. */
export interface BucketDecision {
  allowed: boolean;
  /** The burst: most requests that can pass at once. */
  limit: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** When refused: milliseconds until one token is back (0 when allowed). */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
}

/**
 * Token buckets by key. `cost` 1 takes a token when one is there; `cost` 0 only looks (and
 * creates nothing), for checks made on every request such as "is this address blocked?".
 */
export interface RateLimiter {
  take(key: string, rule: BucketRule, cost?: 0 | 1): Promise<BucketDecision>;
}
