/**
 * How long a revoked token's hash stays marked. It must outlive any auth cache entry made
 * before the revocation (AUTH_CACHE_TTL_MS), by a wide margin for stalled processes.
 */
export const REVOCATION_MARK_MS = 10 * 60_000;

/**
 * Token hashes that stopped being valid (rotated away, or their user deleted), announced to
 * every API process so that none keeps accepting one from its auth cache. The database stays
 * the record: a mark only sends a cached token back to it.
 */
export interface TokenRevocations {
  /** Marks hashes as revoked, after the database says so. */
  revoke(tokenHashes: readonly string[]): Promise<void>;
  /** True when marked; null when it cannot tell (then only the database may answer). */
  isRevoked(tokenHash: string): Promise<boolean | null>;
}

/** Marks in this process: the memory backend runs the whole API in one process. */
export class MemoryTokenRevocations implements TokenRevocations {
  private readonly marks = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  revoke(tokenHashes: readonly string[]): Promise<void> {
    const now = this.now();
    for (const [hash, until] of this.marks) if (until <= now) this.marks.delete(hash);
    for (const hash of tokenHashes) this.marks.set(hash, now + REVOCATION_MARK_MS);
    return Promise.resolve();
  }

  isRevoked(tokenHash: string): Promise<boolean> {
    const until = this.marks.get(tokenHash);
    return Promise.resolve(until !== undefined && until > this.now());
  }
}
