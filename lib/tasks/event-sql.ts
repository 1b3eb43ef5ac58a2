import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { newId } from '../ids';
import { jsonbText } from '../text';

/** One event to append alongside a transition. */
export interface EventSpec {
  kind: string;
  message?: string | null;
  data?: unknown;
  /** Attempt number; defaults to the task's `attempts` after the transition. */
  attempt?: number;
  /**
   * The event's id, when the writer must recognise its own write later (a commit whose reply
   * was lost: the event's presence proves the statement committed). Else a new one.
   */
  id?: string;
  /** Appended only when this holds for the transitioned row (e.g. the status it ended in). */
  when?: SQL;
}

/**
 * `INSERT INTO task_events` statements, as CTEs, for the row of `source` (a CTE returning at
 * most one task row: each event gets one id). Writing events in the transition's own statement keeps "every transition has
 * its event" true even when the process dies right after.
 */
export function eventInserts(source: string, workerId: string | null, events: readonly EventSpec[]): SQL {
  const parts = events.map((e, i) => {
    const attempt = e.attempt === undefined ? sql.raw(`${source}.attempts`) : sql`${e.attempt}`;
    const data = e.data === undefined || e.data === null ? sql`null` : sql`${jsonbText(e.data)}::jsonb`;
    const when = e.when ? sql` WHERE ${e.when}` : sql``;
    return sql`, ${sql.raw(`${source}_ev${i}`)} AS (
      INSERT INTO task_events (id, task_id, run, kind, attempt, worker_id, message, data)
      SELECT ${e.id ?? newId()}::uuid, ${sql.raw(source)}.id, ${sql.raw(source)}.replays, ${e.kind}, ${attempt},
             ${workerId}, ${e.message ?? null}, ${data}
      FROM ${sql.raw(source)}${when})`;
  });
  return sql.join(parts, sql``);
}
