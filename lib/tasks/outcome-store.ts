import { sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { Coalescer } from '../batch/coalescer';
import type { Database } from '../db/client';
import { newId } from '../ids';
import { jsonbText } from '../text';
import { succeedBatch } from './attempt-batches';
import type { Success } from './attempt-batches';
import type { Lease } from './attempt-store';
import { ATTEMPT_BATCHING } from './attempt-store';
import { eventInserts } from './event-sql';
import type { EventSpec } from './event-sql';
import { leaseFence } from './lease-fence';
import type { TaskError, TaskRecord, TaskStatus, TaskSummary } from './task';
import { taskFromRow } from './task-row';

/**
 * The ids of the events an outcome write appends, chosen once before its first try. When a
 * commit's reply is lost, the retried write changes nothing (the row has moved on), and the
 * first event's presence says the write that moved it was this one: no false late result,
 * and the message is acknowledged.
 */
export interface OutcomeIds {
  first: string;
  second: string;
}

export function newOutcomeIds(): OutcomeIds {
  return { first: newId(), second: newId() };
}

/**
 * An attempt's outcome, fenced by its lease epoch. A task asked to cancel while its attempt
 * ran (cancel_requested_at set, whether or not the worker heard the broadcast) is not retried
 * and not dead-lettered: a failed attempt then ends it `cancelled`. A success stands: the work
 * is done, and the cancel came too late to stop it.
 */
export class OutcomeStore {
  private readonly succeeders = new Map<string, Coalescer<Success, Record<string, unknown> | undefined>>();

  constructor(private readonly database: Database) {}

  /** The attempt succeeded. Null when the lease was lost: the result is discarded. */
  async succeed(
    lease: Lease,
    workerId: string,
    resultJson: string,
    durationMs: number,
    eventId: string,
  ): Promise<TaskSummary | null> {
    const row =
      (await this.succeeder(workerId).submit({
        id: lease.id,
        leaseEpoch: lease.leaseEpoch,
        eventId,
        resultJson,
        durationMs,
      })) ?? (await this.ownEarlierWrite(lease.id, eventId));
    return row
      ? {
          id: String(row.id),
          type: String(row.type),
          queue: String(row.queue),
          status: row.status as TaskStatus,
          hasChildren: row.has_children === true,
        }
      : null;
  }

  private succeeder(workerId: string) {
    let c = this.succeeders.get(workerId);
    if (!c) {
      c = new Coalescer<Success, Record<string, unknown> | undefined>(async (items) => {
        const rows = await succeedBatch(this.database, items, workerId);
        const byId = new Map(rows.map((r) => [String(r.id), r]));
        return items.map((it) => byId.get(it.id));
      }, ATTEMPT_BATCHING);
      this.succeeders.set(workerId, c);
    }
    return c;
  }

  /**
   * The attempt failed and will be retried after `delayMs` (by the database's clock), or —
   * asked to cancel meanwhile — the task ends `cancelled`. The row says which.
   */
  retry(lease: Lease, workerId: string, error: TaskError, delayMs: number, ids: OutcomeIds) {
    const delay = Math.max(0, Math.round(delayMs));
    return this.transition(
      lease,
      workerId,
      ids,
      sql`status = CASE WHEN cancel_requested_at IS NULL THEN 'retrying' ELSE 'cancelled' END,
          last_error = ${jsonbText(error)}::jsonb,
          run_at = CASE WHEN cancel_requested_at IS NULL THEN now() + ${delay} * interval '1 millisecond' ELSE run_at END,
          enqueue_seq = CASE WHEN cancel_requested_at IS NULL THEN enqueue_seq + 1 ELSE enqueue_seq END,
          finished_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END`,
      [
        { kind: 'failed', message: error.message, data: error },
        {
          kind: 'retry_scheduled',
          message: `retry in ${delay} ms`,
          data: { delayMs: delay },
          when: sql`t.status = 'retrying'`,
        },
        {
          kind: 'cancelled',
          message: 'cancelled while running; not retried',
          when: sql`t.status = 'cancelled'`,
        },
      ],
    );
  }

  /** The attempt failed for good: the task goes to the dead-letter queue, or ends cancelled if asked to. */
  die(lease: Lease, workerId: string, error: TaskError, reason: string, ids: OutcomeIds) {
    return this.transition(
      lease,
      workerId,
      ids,
      sql`status = CASE WHEN cancel_requested_at IS NULL THEN 'dead' ELSE 'cancelled' END,
          last_error = ${jsonbText(error)}::jsonb, finished_at = now()`,
      [
        { kind: 'failed', message: error.message, data: error },
        { kind: 'dead_lettered', message: reason, data: { reason }, when: sql`t.status = 'dead'` },
        { kind: 'cancelled', message: 'cancelled while running', when: sql`t.status = 'cancelled'` },
      ],
    );
  }

  /** The running attempt stopped because the task was cancelled. */
  cancelled(lease: Lease, workerId: string, ids: OutcomeIds) {
    return this.transition(lease, workerId, ids, sql`status = 'cancelled', finished_at = now()`, [
      { kind: 'cancelled', message: 'cancelled while running' },
    ]);
  }

  private async transition(
    lease: Lease,
    workerId: string,
    ids: OutcomeIds,
    set: SQL,
    events: EventSpec[],
  ): Promise<TaskRecord | null> {
    // The first event always happens and carries ids.first; the others share ids.second, as
    // at most one of them is written (their `when` conditions exclude each other).
    const withIds = events.map((e, i) => ({ ...e, id: i === 0 ? ids.first : ids.second }));
    const rows = await this.database.rows(sql`
      WITH t AS (
        UPDATE tasks SET ${set}, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = ${lease.id}::uuid AND ${leaseFence('tasks', lease.leaseEpoch)}
        RETURNING *
      )${eventInserts('t', workerId, withIds)}
      SELECT * FROM t`);
    const row = rows[0] ?? (await this.ownEarlierWrite(lease.id, ids.first));
    return row ? taskFromRow(row) : null;
  }

  /** The task's row if an earlier try of this very write committed (its event is there). */
  private async ownEarlierWrite(
    taskId: string,
    eventId: string,
  ): Promise<Record<string, unknown> | undefined> {
    const rows = await this.database.rows(sql`
      SELECT t.* FROM tasks t
      WHERE t.id = ${taskId}::uuid AND EXISTS (SELECT 1 FROM task_events e WHERE e.id = ${eventId}::uuid)`);
    return rows[0];
  }
}
