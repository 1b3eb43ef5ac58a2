import type { Logger } from '../logger';
import { AuthCache } from './auth-cache';
import type { Principal, Role } from './roles';
import type { TokenRevocations } from './token-revocations';
import { hashToken, isWellFormedToken, sameDigest } from './tokens';
import type { UserStore } from './user-store';

/** How often a user's last_used_at is written at most: not on every request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Turns a presented token into a principal. Database users first (through a short-lived
 * cache that every revocation mark bypasses); then the deprecated API_TOKENS map, compared
 * digest to digest in constant time, with a warning naming the role. Every refusal looks the
 * same to the caller.
 */
export class Authenticator {
  private readonly legacy: { digest: string; role: Role }[];
  private readonly touchedAt = new Map<string, number>();
  private readonly cache: AuthCache<Principal>;

  constructor(
    private readonly users: UserStore,
    legacyTokens: Record<string, Role>,
    private readonly logger: Logger,
    private readonly revocations: TokenRevocations,
    cache: AuthCache<Principal> = new AuthCache(),
  ) {
    this.legacy = Object.entries(legacyTokens).map(([token, role]) => ({ digest: hashToken(token), role }));
    this.cache = cache;
  }

  async authenticate(token: string | null): Promise<Principal | null> {
    if (!token || token.length > 512) return null;
    const digest = hashToken(token);
    if (isWellFormedToken(token)) {
      const user = await this.databaseUser(digest);
      if (user) {
        this.noteUse(user.id);
        return user;
      }
    }
    let match: { digest: string; role: Role } | undefined;
    for (const entry of this.legacy) if (sameDigest(entry.digest, digest)) match = entry;
    if (!match) return null;
    this.logger.warn(
      { role: match.role },
      'authenticated with a deprecated API_TOKENS entry; create a user with `procurator create-user` instead',
    );
    return {
      id: `legacy-${match.digest.slice(0, 16)}`,
      name: `legacy ${match.role} token`,
      role: match.role,
      rateLimitRps: null,
      legacy: true,
    };
  }

  /**
   * The principal this process has cached for a well-formed token, asking nobody. Whoever
   * uses it must first learn that the token is not marked revoked (the admission check does,
   * in the same Redis round trip as the rate limits), then call recordUse.
   */
  cached(token: string | null): { principal: Principal; digest: string } | null {
    if (!token || token.length > 512 || !isWellFormedToken(token)) return null;
    const digest = hashToken(token);
    const principal = this.cache.get(digest);
    return principal ? { principal, digest } : null;
  }

  /**
   * The active user whose token has this hash — a console session's (README, "Web console")
   * — through the same cache and revocation marks as a presented token, so that a session
   * ends when its token is rotated away or its user deleted, exactly when the token stops
   * working on the API. Null when the hash is no longer any active user's.
   */
  async byTokenHash(digest: string): Promise<Principal | null> {
    const user = await this.databaseUser(digest);
    if (user) this.noteUse(user.id);
    return user;
  }

  /** Notes that a cached principal was used (last_used_at, throttled). */
  recordUse(principal: Principal): void {
    if (!principal.legacy) this.noteUse(principal.id);
  }

  /** Drops token hashes from this process's cache at once (the process that revoked them). */
  forget(tokenHashes: readonly string[]): void {
    for (const hash of tokenHashes) this.cache.delete(hash);
  }

  private async databaseUser(digest: string): Promise<Principal | null> {
    const cached = this.cache.get(digest);
    if (cached) {
      // Marked: rotated or revoked since it was cached. Unknown (Redis unreachable): we
      // cannot tell. Either way only the database may answer.
      if ((await this.revocations.isRevoked(digest)) === false) return cached;
      this.cache.delete(digest);
    }
    const user = await this.users.findByTokenHash(digest);
    if (!user) return null;
    const principal: Principal = {
      id: user.id,
      name: user.name,
      role: user.role as Role,
      rateLimitRps: user.rateLimitRps,
      legacy: false,
    };
    // Cached after the read: a revocation committed meanwhile has its mark set after its
    // commit, so the next use of this entry still sees the mark.
    this.cache.set(digest, principal);
    return principal;
  }

  private noteUse(userId: string): void {
    const now = Date.now();
    if (now - (this.touchedAt.get(userId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touchedAt.set(userId, now);
    this.users
      .touch(userId)
      .catch((err: unknown) => this.logger.debug({ err }, 'could not record token use'));
  }
}
