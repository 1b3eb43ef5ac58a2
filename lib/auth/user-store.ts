import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { users } from '../../drizzle/schema';
import type { Database, Db } from '../db/client';
import { newId } from '../ids';
import { isUuid } from '../ids';
import type { Principal, Role } from './roles';
import { generateToken, hashToken } from './tokens';

export interface UserView {
  id: string;
  name: string;
  role: Role;
  rateLimitRps: number | null;
  createdAt: string;
  lastUsedAt: string | null;
  tokenRotatedAt: string | null;
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
    tokenRotatedAt: u.tokenRotatedAt ? u.tokenRotatedAt.toISOString() : null,
  };
}

/** Where a statement runs: the database, or a transaction of it. */
export type Executor = Pick<Db, 'select' | 'insert' | 'update'>;

/** Users and their token hashes. Raw tokens exist only in the answers that create them. */
export class UserStore {
  constructor(private readonly database: Database) {}

  /** Creates a user; returns it with its token, which is never shown again. */
  async create(
    name: string,
    role: Role,
    rateLimitRps: number | null = null,
    exec: Executor = this.database.db,
  ): Promise<{ user: UserView; token: string }> {
    const token = generateToken();
    const [row] = await exec
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

  /** The active user with this id as a principal (what it may do now), or null. */
  async principalOf(id: string): Promise<Principal | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.database.db
      .select()
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .limit(1);
    if (!row) return null;
    return {
      id: row.id,
      name: row.name,
      role: row.role as Role,
      rateLimitRps: row.rateLimitRps,
      legacy: false,
    };
  }

  /** Active users, oldest first. */
  async list(): Promise<UserView[]> {
    const rows = await this.database.db
      .select()
      .from(users)
      .where(isNull(users.deletedAt))
      .orderBy(asc(users.id));
    return rows.map(toUserView);
  }

  /**
   * Gives an active user a new token. Returns it with the hash it replaced (to announce as
   * revoked), or null when there is no such active user. The row lock orders concurrent
   * rotations, so each one revokes the hash the previous one left.
   */
  async rotateToken(
    id: string,
    exec: Executor = this.database.db,
  ): Promise<{ user: UserView; token: string; oldHash: string } | null> {
    const [old] = await exec
      .select({ tokenHash: users.tokenHash })
      .from(users)
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .for('update');
    if (!old) return null;
    const token = generateToken();
    const [row] = await exec
      .update(users)
      .set({ tokenHash: hashToken(token), tokenRotatedAt: sql`now()` })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row ? { user: toUserView(row), token, oldHash: old.tokenHash } : null;
  }

  /**
   * Deletes a user: its token stops working; its tasks and audit entries stay, naming its id.
   * Returns the deleted user and its token hash (to announce as revoked), or null.
   */
  async softDelete(
    id: string,
    exec: Executor = this.database.db,
  ): Promise<{ user: UserView; tokenHash: string } | null> {
    const [row] = await exec
      .update(users)
      .set({ deletedAt: sql`now()` })
      .where(and(eq(users.id, id), isNull(users.deletedAt)))
      .returning();
    return row ? { user: toUserView(row), tokenHash: row.tokenHash } : null;
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
