import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { hashToken } from '../auth/tokens';
import type { Database } from '../db/client';
import { toDate } from '../tasks/task-row';

/** A signed-in console session as the server keeps it (never the cookie's secret itself). */
export interface ConsoleSession {
  /** SHA-256 (hex) of the cookie's secret: the row's key. */
  id: string;
  userId: string;
  /** The hash of the API token the user signed in with. */
  tokenHash: string;
  csrfToken: string;
  createdAt: Date;
  lastSeenAt: Date;
}

export interface SessionSettings {
  /** A session unused this long is over (UI_SESSION_IDLE_MS). */
  idleMs: number;
}

/** 256 bits, base64url: the cookie's session secret and each session's CSRF token. */
function secret(): string {
  return randomBytes(32).toString('base64url');
}

const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Console sessions in the database, so that every API replica knows them and a restart
 * signs nobody out. The cookie holds a random secret; the table only its hash. Idle time is
 * judged by the database's clock. `last_seen_at` is written at most once per `touchEveryMs`
 * (a tenth of the idle time, at most a minute), not on every request.
 */
export class SessionStore {
  private readonly touchEveryMs: number;

  constructor(
    private readonly database: Database,
    private readonly settings: SessionSettings,
  ) {
    this.touchEveryMs = Math.min(60_000, Math.floor(settings.idleMs / 10));
  }

  get idleMs(): number {
    return this.settings.idleMs;
  }

  /** Opens a session for a user signed in with the token of hash `tokenHash`; returns the cookie's secret. */
  async create(userId: string, tokenHash: string): Promise<{ secret: string; session: ConsoleSession }> {
    const value = secret();
    const rows = await this.database.rows(sql`
      INSERT INTO ui_sessions (id, user_id, token_hash, csrf_token)
      VALUES (${hashToken(value)}, ${userId}::uuid, ${tokenHash}, ${secret()})
      RETURNING *`);
    return { secret: value, session: fromRow(rows[0]!) };
  }

  /**
   * The live session a cookie's secret opens, or null (unknown, malformed or idle too long).
   * `active`: a request the user made (not a page's background refresh) keeps it alive.
   */
  async find(cookieSecret: string, active: boolean): Promise<ConsoleSession | null> {
    if (!SECRET_RE.test(cookieSecret)) return null;
    const id = hashToken(cookieSecret);
    const rows = await this.database.rows(sql`
      SELECT *, last_seen_at < now() - ${this.touchEveryMs} * interval '1 millisecond' AS stale
      FROM ui_sessions
      WHERE id = ${id} AND last_seen_at > now() - ${this.settings.idleMs} * interval '1 millisecond'`);
    const row = rows[0];
    if (!row) return null;
    const session = fromRow(row);
    if (active && row.stale === true) {
      await this.database.rows(sql`UPDATE ui_sessions SET last_seen_at = now() WHERE id = ${id}`);
    }
    return session;
  }

  /** Ends a session (sign-out, or its token no longer valid). */
  async delete(id: string): Promise<void> {
    await this.database.rows(sql`DELETE FROM ui_sessions WHERE id = ${id}`);
  }

  /** Ends the session a cookie's secret names, if any. */
  async deleteBySecret(cookieSecret: string): Promise<void> {
    if (SECRET_RE.test(cookieSecret)) await this.delete(hashToken(cookieSecret));
  }

  /** Deletes up to `limit` sessions past their idle time, oldest first; returns how many. */
  async deleteExpired(limit = 1000): Promise<number> {
    const rows = await this.database.rows(sql`
      DELETE FROM ui_sessions WHERE id IN (
        SELECT id FROM ui_sessions
        WHERE last_seen_at < now() - ${this.settings.idleMs} * interval '1 millisecond'
        ORDER BY last_seen_at LIMIT ${limit})
      RETURNING id`);
    return rows.length;
  }
}

function fromRow(r: Record<string, unknown>): ConsoleSession {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    tokenHash: String(r.token_hash),
    csrfToken: String(r.csrf_token),
    createdAt: toDate(r.created_at),
    lastSeenAt: toDate(r.last_seen_at),
  };
}
