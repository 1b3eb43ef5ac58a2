import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import type { TaskEventMap } from '../observability/task-events';
import type { TaskRef } from '../queue/queue-backend';
import type { TaskStatus } from '../tasks/task';

/** The statuses retention deletes; every other status (live, waiting) is never pruned. */
export type EndedStatus = Extract<TaskStatus, 'succeeded' | 'cancelled' | 'discarded' | 'dead'>;

/** What one batch deleted. */
export interface PrunedTasks {
  /** The tasks deleted, with their queue (their dead-letter records go too). */
  tasks: TaskRef[];
  events: number;
  callbacks: number;
  /** Their rows in task_dependencies, as parents. */
  dependencies: number;
  /**
   * How long before the retention line the newest task of the batch ended (ms, by the
   * database's clock): how far behind the pruner still is; null when nothing was deleted.
   */
  behindMs: number | null;
}

const ms = (n: number) => sql`${n} * interval '1 millisecond'`;

/**
 * The deletes retention makes, each one bounded statement: it deletes at most `limit` rows of
 * its main table (and a task's events and callback deliveries with it), locks only the rows
 * it deletes, and commits on its own — so submissions and claims never wait behind it for
 * longer than one batch.
 */
export class RetentionStore {
  constructor(private readonly database: Database) {}

  /**
   * Deletes up to `limit` tasks of one ended status that reached it more than `ageMs` ago,
   * oldest first, with their events, callback deliveries and dependency edges (as a parent). A task whose Idempotency-Key is
   * younger than `idempotencyTtlMs` stays until the key expires, so a retention shorter than
   * the key's life never lets a repeated request make a second task.
   */
  async pruneTasks(
    status: EndedStatus,
    ageMs: number,
    idempotencyTtlMs: number,
    limit: number,
  ): Promise<PrunedTasks> {
    // One status per statement: tasks_ended_idx (status, updated_at) then answers "the oldest
    // `limit`" by reading `limit` entries, where several statuses at once would be sorted.
    // SKIP LOCKED: a row some transaction is changing right now is left for the next pass.
    // ANY(ARRAY(…)) keeps the child deletes one index probe per task whatever the planner
    // believes about the batch.
    const [row] = await this.database.rows<{
      tasks: TaskRef[] | null;
      events: number;
      callbacks: number;
      dependencies: number;
      behind_ms: number | null;
    }>(sql`
      WITH victims AS (
        SELECT id, updated_at FROM tasks
        WHERE status = ${status} AND updated_at < now() - ${ms(ageMs)}
          AND (idempotency_key IS NULL OR created_at < now() - ${ms(idempotencyTtlMs)})
        ORDER BY updated_at LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ), ev AS (
        DELETE FROM task_events WHERE task_id = ANY(ARRAY(SELECT id FROM victims)) RETURNING 1
      ), cb AS (
        DELETE FROM callback_deliveries WHERE task_id = ANY(ARRAY(SELECT id FROM victims)) RETURNING 1
      ), deps AS (
        -- An ended parent's edges served its end, which settled its children: they go with it.
        DELETE FROM task_dependencies WHERE parent_id = ANY(ARRAY(SELECT id FROM victims)) RETURNING 1
      ), t AS (
        DELETE FROM tasks WHERE id = ANY(ARRAY(SELECT id FROM victims)) RETURNING id, queue
      )
      SELECT (SELECT json_agg(json_build_object('taskId', id, 'queue', queue)) FROM t) AS tasks,
             (SELECT count(*) FROM ev)::int AS events, (SELECT count(*) FROM cb)::int AS callbacks,
             (SELECT count(*) FROM deps)::int AS dependencies,
             (SELECT extract(epoch FROM now() - ${ms(ageMs)} - max(updated_at)) * 1000 FROM victims)::float8
               AS behind_ms`);
    return {
      tasks: row?.tasks ?? [],
      events: Number(row?.events ?? 0),
      callbacks: Number(row?.callbacks ?? 0),
      dependencies: Number(row?.dependencies ?? 0),
      behindMs: row?.behind_ms == null ? null : Math.max(0, Number(row.behind_ms)),
    };
  }

  /**
   * Deletes up to `limit` audit entries older than `ageMs`, oldest first. Ids are UUIDv7 of
   * the entry's time, so the primary key finds them without an index on `at`; `at` (the
   * database's clock) is checked too, so an entry whose id was made by a fast clock waits.
   */
  async pruneAudit(ageMs: number, limit: number): Promise<number> {
    const [row] = await this.database.rows<{ n: number }>(sql`
      WITH cut AS (
        SELECT now() - ${ms(ageMs)} AS at,
               (lpad(to_hex((extract(epoch FROM now() - ${ms(ageMs)}) * 1000)::bigint), 12, '0')
                 || repeat('0', 20))::uuid AS id
      ), a AS (
        DELETE FROM audit_log WHERE id = ANY(ARRAY(
          SELECT l.id FROM audit_log l, cut WHERE l.id < cut.id AND l.at < cut.at ORDER BY l.id LIMIT ${limit}))
        RETURNING 1
      )
      SELECT count(*)::int AS n FROM a`);
    return Number(row?.n ?? 0);
  }

  /**
   * Whether something else makes the space of deleted rows reusable: PostgreSQL's autovacuum
   * when it is on (with the statistics it is driven by). PGlite has none.
   */
  async autovacuumRuns(): Promise<boolean> {
    if (this.database.kind === 'pglite') return false;
    const [row] = await this.database.rows<{ on: boolean }>(
      sql`SELECT current_setting('autovacuum') = 'on' AND current_setting('track_counts') = 'on' AS on`,
    );
    return row?.on === true;
  }

  /** A plain VACUUM of `tables` (never FULL: it takes no lock that stops reads or writes). */
  async vacuum(tables: readonly TaskEventMap['rows_pruned']['table'][]): Promise<void> {
    if (tables.length === 0) return;
    await this.database.rows(sql.raw(`VACUUM ${tables.join(', ')}`));
  }
}
