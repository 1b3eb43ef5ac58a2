import type { Logger } from '../logger';
import type { Principal, Role } from './roles';
import { hashToken, isWellFormedToken, sameDigest } from './tokens';
import type { UserStore } from './user-store';

/** How often a user's last_used_at is written at most: not on every request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Turns a presented token into a principal. Database users first; then the deprecated
 * API_TOKENS map, compared digest to digest in constant time, with a warning naming the role.
 * Every refusal looks the same to the caller.
 */
export class Authenticator {
  private readonly legacy: { digest: string; role: Role }[];
  private readonly touchedAt = new Map<string, number>();

  constructor(
    private readonly users: UserStore,
    legacyTokens: Record<string, Role>,
    private readonly logger: Logger,
  ) {
    this.legacy = Object.entries(legacyTokens).map(([token, role]) => ({ digest: hashToken(token), role }));
  }

  async authenticate(token: string | null): Promise<Principal | null> {
    if (!token || token.length > 512) return null;
    const digest = hashToken(token);
    if (isWellFormedToken(token)) {
      const user = await this.users.findByTokenHash(digest);
      if (user) {
        this.noteUse(user.id);
        return {
          id: user.id,
          name: user.name,
          role: user.role as Role,
          rateLimitRps: user.rateLimitRps,
          legacy: false,
        };
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

  private noteUse(userId: string): void {
    const now = Date.now();
    if (now - (this.touchedAt.get(userId) ?? 0) < TOUCH_EVERY_MS) return;
    this.touchedAt.set(userId, now);
    this.users
      .touch(userId)
      .catch((err: unknown) => this.logger.debug({ err }, 'could not record token use'));
  }
}
