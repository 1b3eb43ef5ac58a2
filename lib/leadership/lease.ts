import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { toDate } from '../tasks/task-row';

export interface LeaseOptions {
  /** What the lease guards, e.g. `pruner`: one row of `leases`. */
  name: string;
  /** Who asks: the worker id. */
  holder: string;
  /** How long a take or a renewal lasts, by the database's clock. */
  ttlMs: number;
}

/**
 * "One worker at a time across all workers" for a job: a row of `leases` naming its holder
 * until `expires_at`, taken and renewed by one conditional upsert and released by its holder.
 *
 * Why a row and not a PostgreSQL advisory lock: an advisory lock belongs to a session, and
 * sessions are what a pool hides — the lock would need a connection of its own for as long
 * as it is held (lost silently if that connection drops, impossible behind a transaction
 * pooler), and on the embedded database every in-process worker shares one session, where
 * the lock is re-entrant and both would "hold" it. A row works the same on PostgreSQL and
 * PGlite, shows who holds it (`SELECT * FROM leases`), and ends by itself when its holder
 * dies: a takeover waits at most `ttlMs`.
 */
export class Lease {
  constructor(
    private readonly database: Database,
    private readonly o: LeaseOptions,
  ) {}

  get name(): string {
    return this.o.name;
  }

  /**
   * Takes the lease if it is free or expired, or renews it if this holder has it. True while
   * this holder has it: call it before each bounded step of the job and stop when false.
   */
  async acquire(): Promise<boolean> {
    const rows = await this.database.rows(sql`
      INSERT INTO leases (name, holder, expires_at)
      VALUES (${this.o.name}, ${this.o.holder}, now() + ${this.o.ttlMs} * interval '1 millisecond')
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
        acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE now() END
      WHERE leases.holder = excluded.holder OR leases.expires_at < now()
      RETURNING holder`);
    return rows.length > 0;
  }

  /** Gives the lease up (on a clean stop) so another worker takes it at its next try. */
  async release(): Promise<void> {
    await this.database.rows(
      sql`DELETE FROM leases WHERE name = ${this.o.name} AND holder = ${this.o.holder}`,
    );
  }
}

/** A lease as it stands: who holds the job, until when (the console's "workers alive"). */
export interface HeldLease {
  name: string;
  holder: string;
  expiresAt: string;
}

/** Every lease not yet expired, by the database's clock. */
export async function heldLeases(database: Database): Promise<HeldLease[]> {
  const rows = await database.rows<{ name: string; holder: string; expires_at: unknown }>(
    sql`SELECT name, holder, expires_at FROM leases WHERE expires_at > now() ORDER BY name`,
  );
  return rows.map((r) => ({
    name: r.name,
    holder: r.holder,
    expiresAt: toDate(r.expires_at).toISOString(),
  }));
}
