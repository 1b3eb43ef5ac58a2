import { and, eq, isNull, sql } from 'drizzle-orm';
import { users } from '../../drizzle/schema';
import type { Database } from '../db/client';
import { newId } from '../ids';
import type { Role } from './roles';
import { generateToken, hashToken } from './tokens';

export interface UserView {
  id: string;
  name: string;
  role: Role;
  rateLimitRps: number | null;
  createdAt: string;
  lastUsedAt: string | null;
}

type UserRow = typeof users.$inferSelect;

export function toUserView(u: UserRow): UserView {
  return {
    id: u.id,
    name: u.name,
    role: u.role as Role,
    rateLimitRps: u.rateLimitRps,
    createdAt: u.createdAt.toISOString(),
    lastUsedAt: u.lastUsedAt ? u.lastUsedAt.toISOString() : null,
  };
}

/** Users and their token hashes. Raw tokens exist only in the answers that create them. */
export class UserStore {
  constructor(private readonly database: Database) {}

  /** Creates a user; returns it with its token, which is never shown again. */
  async create(
    name: string,
    role: Role,
    rateLimitRps: number | null = null,
  ): Promise<{ user: UserView; token: string }> {
    const token = generateToken();
    const [row] = await this.database.db
      .insert(users)
      .values({ id: newId(), name, role, tokenHash: hashToken(token), rateLimitRps })
      .returning();
    return { user: toUserView(row!), token };
  }

  /** The active user holding the token with this hash. */
  async findByTokenHash(tokenHash: string): Promise<UserRow | null> {
    const [row] = await this.database.db
      .select()
      .from(users)
      .where(and(eq(users.tokenHash, tokenHash), isNull(users.deletedAt)))
      .limit(1);
    return row ?? null;
  }

  async count(): Promise<number> {
    const [row] = await this.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL`,
    );
    return row?.n ?? 0;
  }

  /** Records use without a write per request: callers throttle how often they call this. */
  async touch(id: string): Promise<void> {
    await this.database.db
      .update(users)
      .set({ lastUsedAt: sql`now()` })
      .where(eq(users.id, id));
  }
}
