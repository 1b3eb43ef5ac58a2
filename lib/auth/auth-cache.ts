/**
 * How long an authenticated token is trusted without asking the database again. Revocation
 * does not wait for this (see TokenRevocations); it only bounds how stale a cached user can
 * be when Redis could not carry a revocation to this process.
 */
export const AUTH_CACHE_TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * Token hash → principal, for a bounded time and count, so that the API does not query the
 * database on every request. The oldest entry goes first when it is full.
 */
export class AuthCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ttlMs = AUTH_CACHE_TTL_MS,
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, value: T): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, until: this.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
