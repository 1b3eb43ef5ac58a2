import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Actor } from '../audit/audit-store';
import type { Database } from '../db/client';
import { newId } from '../ids';
import type { TaskRecord } from './task';
import { taskFromRow } from './task-row';

/** Tasks replayed by one bulk call at most; call again for the rest. */
export const MAX_BULK_REPLAY = 10_000;

export interface ReplayFilter {
  ids?: string[];
  type?: string;
  queue?: string;
}

/** A dead task back to `queued`: a new run, attempts reset, a new live message seq. */
const REPLAY_SET = sql`status = 'queued', attempts = 0, replays = t.replays + 1, enqueue_seq = t.enqueue_seq + 1,
  last_error = NULL, result = NULL, run_at = NULL, started_at = NULL, finished_at = NULL,
  lease_owner = NULL, lease_expires_at = NULL, cancel_requested_at = NULL, updated_at = now()`;

/**
 * The dead-letter queue's state changes: replay and discard. Each is one statement that is
 * conditional on `status = 'dead'`, so two concurrent replays of one task replay it once,
 * and each writes its task events and its audit entry in the same statement.
 */
export class DeadLetterStore {
  constructor(private readonly database: Database) {}

  /** Replays one dead task. Null when the task is not dead (or does not exist). */
  async replay(id: string, actor: Actor): Promise<TaskRecord | null> {
    const [task] = await this.replayIds([id], actor, 'dlq.replay');
    return task ?? null;
  }

  /** Replays the dead tasks matching the filter (at most MAX_BULK_REPLAY). */
  async replayMatching(filter: ReplayFilter, actor: Actor): Promise<TaskRecord[]> {
    const where: SQL[] = [sql`status = 'dead'`];
    if (filter.ids) {
      where.push(
        sql`id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(filter.ids)}::jsonb)))`,
      );
    }
    if (filter.type) where.push(sql`type = ${filter.type}`);
    if (filter.queue) where.push(sql`queue = ${filter.queue}`);
    const rows = await this.database.rows<{ id: string }>(
      sql`SELECT id::text FROM tasks WHERE ${sql.join(where, sql` AND `)} ORDER BY id LIMIT ${MAX_BULK_REPLAY}`,
    );
    if (rows.length === 0) return [];
    return this.replayIds(
      rows.map((r) => r.id),
      actor,
      'dlq.replay_bulk',
      filter,
    );
  }

  /** Discards a dead task for good (`dead → discarded`). Null when it is not dead. */
  async discard(id: string, actor: Actor): Promise<TaskRecord | null> {
    const rows = await this.database.rows(sql`
      WITH t AS (
        UPDATE tasks SET status = 'discarded', updated_at = now()
        WHERE id = ${id}::uuid AND status = 'dead'
        RETURNING *
      ), ev AS (
        INSERT INTO task_events (id, task_id, run, kind, attempt, message, data)
        SELECT ${newId()}::uuid, t.id, t.replays, 'discarded', t.attempts, 'deleted from the dead-letter queue',
               jsonb_build_object('by', ${actor.principal.id}::text, 'requestId', ${actor.requestId}::text)
        FROM t
      ), audit AS (
        INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id)
        SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name}, 'dlq.delete', t.id::text,
               ${actor.requestId} FROM t
      )
      SELECT * FROM t`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  private async replayIds(
    ids: string[],
    actor: Actor,
    action: string,
    filter?: ReplayFilter,
  ): Promise<TaskRecord[]> {
    const input = JSON.stringify(ids.map((id) => ({ id, event_id: newId() })));
    const auditData = JSON.stringify({ filter: filter ?? null });
    const rows = await this.database.rows(sql`
      WITH input AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(id uuid, event_id uuid)
      ), r AS (
        UPDATE tasks t SET ${REPLAY_SET}
        FROM input WHERE t.id = ANY(ARRAY(SELECT id FROM input)) AND t.id = input.id AND t.status = 'dead'
        RETURNING t.*, input.event_id
      ), ev AS (
        INSERT INTO task_events (id, task_id, run, kind, attempt, message, data)
        SELECT r.event_id, r.id, r.replays, 'replayed', 0, 'replayed from the dead-letter queue',
               jsonb_build_object('by', ${actor.principal.id}::text, 'requestId', ${actor.requestId}::text)
        FROM r
      ), audit AS (
        INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id, data)
        SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name}, ${action},
               CASE WHEN count(*) = 1 THEN min(r.id::text) ELSE count(*) || ' tasks' END, ${actor.requestId},
               ${auditData}::jsonb || jsonb_build_object('tasks', count(*))
        FROM r HAVING count(*) > 0
      )
      SELECT * FROM r ORDER BY id`);
    return rows.map(taskFromRow);
  }
}
