import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import type { Actor } from '../audit/audit-store';
import { ValidationError } from '../errors';
import { newId } from '../ids';
import { LIVE_STATUSES } from '../tasks/task';

/**
 * Names known to this process are trusted this long: a queue another API process deleted is
 * registered again by a submission here after at most this (see `remove`).
 */
const KNOWN_FOR_MS = 10_000;

// Any fixed number, distinct from the migration lock: registrations of new queue names are
// serialized so that two API replicas cannot both take the last place under MAX_QUEUES.
const REGISTRATION_LOCK = 7_240_412;

/** Where a refused queue name came from in the request, for the 422's `errors[].path`. */
export interface QueueUse {
  queue: string;
  path: string;
}

/**
 * The names of the queues that exist (table queue_states), at most MAX_QUEUES of them. A
 * submission naming a new queue registers it first; past the limit it is refused with 422
 * and nothing of it is stored. Every worker reads and blocks on every queue, so the number
 * of queues bounds the work of each loop; a dev must not be able to grow it without end.
 * Names known to this process are kept in memory for KNOWN_FOR_MS: the hot path asks the
 * database nothing.
 */
export class QueueRegistry {
  private known?: Set<string>;
  private loadedAt = 0;

  constructor(
    private readonly database: Database,
    private readonly maxQueues: number,
  ) {}

  get limit(): number {
    return this.maxQueues;
  }

  /** Registers every queue the uses name, all or none. */
  async ensure(uses: readonly QueueUse[]): Promise<void> {
    const known = await this.loaded();
    const missing = [...new Set(uses.map((u) => u.queue))].filter((q) => !known.has(q));
    if (missing.length === 0) return;
    const outcome = await this.database.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${REGISTRATION_LOCK})`);
      // A statement of its own, after the lock: it sees every registration committed before.
      const result: unknown = await tx.execute(sql`
        WITH wanted AS (
          SELECT value AS name FROM jsonb_array_elements_text(${JSON.stringify(missing)}::jsonb)
        ), fresh AS (
          SELECT name FROM wanted WHERE NOT EXISTS (SELECT 1 FROM queue_states q WHERE q.name = wanted.name)
        ), counts AS (
          SELECT (SELECT count(*)::int FROM queue_states) AS present, (SELECT count(*)::int FROM fresh) AS adding
        ), ins AS (
          INSERT INTO queue_states (name, updated_at)
          SELECT name, now() FROM fresh WHERE (SELECT present + adding FROM counts) <= ${this.maxQueues}
          ON CONFLICT (name) DO NOTHING
          RETURNING name
        )
        SELECT present, adding, (SELECT count(*)::int FROM ins) AS added FROM counts`);
      // Both drivers answer {rows}.
      return (result as { rows: { present: number; adding: number; added: number }[] }).rows[0]!;
    });
    if (outcome.adding > 0 && outcome.added === 0) {
      const refused = uses.filter((u) => missing.includes(u.queue));
      throw new ValidationError(
        `This would create ${outcome.adding} more queue(s) beyond the ${outcome.present} that exist; at most ` +
          `${this.maxQueues} may exist (MAX_QUEUES). Use an existing queue, or have an operator delete an unused one.`,
        [...new Map(refused.map((u) => [u.queue, u])).values()].map((u) => ({
          path: u.path,
          message: `queue ${JSON.stringify(u.queue)} does not exist and MAX_QUEUES (${this.maxQueues}) is reached`,
        })),
      );
    }
    for (const q of missing) known.add(q);
  }

  /**
   * Forgets a queue's name (and its pause) when no live task is in it, under the lock new
   * names are registered under, with an audit entry. Answers how many live tasks it holds
   * (nothing was deleted unless 0) and whether the name existed.
   */
  async remove(name: string, actor: Actor): Promise<{ live: number; existed: boolean }> {
    const outcome = await this.database.db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${REGISTRATION_LOCK})`);
      const result: unknown = await tx.execute(sql`
        WITH live AS (
          SELECT count(*)::int AS n FROM tasks
          WHERE queue = ${name} AND status IN (${sql.join(
            LIVE_STATUSES.map((s) => sql`${s}`),
            sql`, `,
          )})
        ), gone AS (
          DELETE FROM queue_states WHERE name = ${name} AND (SELECT n FROM live) = 0 RETURNING name
        ), audit AS (
          INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id)
          SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name}, 'queue.delete', gone.name,
                 ${actor.requestId} FROM gone
        )
        SELECT (SELECT n FROM live) AS live,
               (SELECT count(*)::int FROM gone) + (SELECT count(*)::int FROM queue_states WHERE name = ${name}) AS existed`);
      return (result as { rows: { live: number; existed: number }[] }).rows[0]!;
    });
    if (outcome.live === 0) this.known?.delete(name);
    return { live: outcome.live, existed: outcome.existed > 0 };
  }

  /** How many queues exist. */
  async count(): Promise<number> {
    const [row] = await this.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM queue_states`);
    return row?.n ?? 0;
  }

  private async loaded(): Promise<Set<string>> {
    if (!this.known || Date.now() - this.loadedAt > KNOWN_FOR_MS) {
      const rows = await this.database.rows<{ name: string }>(sql`SELECT name FROM queue_states`);
      this.known = new Set(rows.map((r) => r.name));
      this.loadedAt = Date.now();
    }
    return this.known;
  }
}
