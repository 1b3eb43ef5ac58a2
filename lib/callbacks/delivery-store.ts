import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { newId } from '../ids';
import { jsonbText } from '../text';
import type { TaskView } from '../tasks/task';
import { toTaskView } from '../tasks/task';
import { taskFromRow, toDate } from '../tasks/task-row';
import type { TaskTrace } from '../tasks/task-trace';

/** A delivery this worker holds the lease of, ready to send. */
export interface ClaimedDelivery {
  id: string;
  taskId: string;
  run: number;
  event: string;
  url: string;
  /** The task as it ended. */
  task: TaskView;
  /** This try's number, counted at the claim (1 for the first). */
  tries: number;
  /** The task's trace: each try is a span of it. */
  trace: TaskTrace;
}

/** A delivery as operators see it (the console's task page): never the task snapshot. */
export interface DeliveryView {
  id: string;
  run: number;
  event: string;
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: string;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** What one try's event says. */
export interface TryRecord {
  message: string;
  data: Record<string, unknown>;
}

/**
 * The callback outbox's writes (table `callback_deliveries`, filled by a trigger on `tasks`).
 * Every write after the claim is conditional on this worker still owning the lease, and
 * writes the try's task event in the same statement.
 */
export class CallbackDeliveryStore {
  constructor(private readonly database: Database) {}

  /** A task's deliveries, oldest first (one per end of each run). */
  async forTask(taskId: string): Promise<DeliveryView[]> {
    const rows = await this.database.rows(sql`
      SELECT id, run, event, url, status, attempts, next_at, last_error, created_at, updated_at
      FROM callback_deliveries WHERE task_id = ${taskId}::uuid ORDER BY created_at, id`);
    return rows.map((r) => ({
      id: String(r.id),
      run: Number(r.run),
      event: String(r.event),
      url: String(r.url),
      status: r.status as DeliveryView['status'],
      attempts: Number(r.attempts),
      nextAt: toDate(r.next_at).toISOString(),
      lastError: (r.last_error as string | null) ?? null,
      createdAt: toDate(r.created_at).toISOString(),
      updatedAt: toDate(r.updated_at).toISOString(),
    }));
  }

  /**
   * Leases up to `limit` due deliveries to `owner`. SKIP LOCKED lets workers claim side by
   * side without waiting on each other; the lease (longer than one try can take) keeps a
   * claimed row away from them after this statement commits. A try is counted here, before
   * it is made, so a worker that dies mid-try still uses one up.
   */
  async claimDue(owner: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const rows = await this.database.rows(sql`
      WITH due AS (
        SELECT id FROM callback_deliveries
        WHERE status = 'pending' AND next_at <= now() AND (leased_until IS NULL OR leased_until < now())
        ORDER BY next_at LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE callback_deliveries d
      SET lease_owner = ${owner}, leased_until = now() + ${leaseMs} * interval '1 millisecond',
          attempts = d.attempts + 1, updated_at = now()
      FROM due WHERE d.id = due.id
      RETURNING d.id, d.task_id, d.run, d.event, d.url, d.task, d.attempts`);
    return rows.map((r) => {
      const task = taskFromRow(snapshot(r.task));
      return {
        id: String(r.id),
        taskId: String(r.task_id),
        run: Number(r.run),
        event: String(r.event),
        url: String(r.url),
        task: toTaskView(task),
        tries: Number(r.attempts),
        trace: { traceId: task.traceId, parentSpanId: task.parentSpanId, traceFlags: task.traceFlags },
      };
    });
  }

  /** The receiver took it: settled, with a `callback_delivered` event. False if the lease was lost. */
  async delivered(d: ClaimedDelivery, owner: string, rec: TryRecord): Promise<boolean> {
    return this.settle(
      d,
      owner,
      'callback_delivered',
      rec,
      sql`status = 'delivered', last_error = NULL, task = NULL`,
    );
  }

  /** This try failed and another follows after `delayMs` (`callback_failed` event). */
  async retryLater(d: ClaimedDelivery, owner: string, rec: TryRecord, delayMs: number): Promise<boolean> {
    return this.settle(
      d,
      owner,
      'callback_failed',
      rec,
      sql`last_error = ${rec.message}, next_at = now() + ${Math.max(0, Math.round(delayMs))} * interval '1 millisecond'`,
    );
  }

  /** No more tries: the delivery failed for good (`callback_failed` event with `final: true`). */
  async giveUp(d: ClaimedDelivery, owner: string, rec: TryRecord): Promise<boolean> {
    return this.settle(
      d,
      owner,
      'callback_failed',
      rec,
      sql`status = 'failed', last_error = ${rec.message}, task = NULL`,
    );
  }

  /** Hands a delivery back untried (shutdown aborted the request): the try is not counted. */
  async release(d: ClaimedDelivery, owner: string): Promise<void> {
    await this.database.rows(sql`
      UPDATE callback_deliveries
      SET lease_owner = NULL, leased_until = NULL, attempts = GREATEST(attempts - 1, 0), updated_at = now()
      WHERE id = ${d.id}::uuid AND lease_owner = ${owner} AND status = 'pending'`);
  }

  private async settle(
    d: ClaimedDelivery,
    owner: string,
    kind: 'callback_delivered' | 'callback_failed',
    rec: TryRecord,
    set: ReturnType<typeof sql>,
  ): Promise<boolean> {
    // `run` and `attempt` are the task's (its replays and attempts when it ended), so the
    // event sits with the run it reports on; the try number is in `data`.
    const rows = await this.database.rows(sql`
      WITH d AS (
        UPDATE callback_deliveries
        SET ${set}, lease_owner = NULL, leased_until = NULL, updated_at = now()
        WHERE id = ${d.id}::uuid AND lease_owner = ${owner} AND status = 'pending'
        RETURNING id, task_id, run
      ), ev AS (
        INSERT INTO task_events (id, task_id, run, kind, attempt, worker_id, message, data)
        SELECT ${newId()}::uuid, d.task_id, d.run, ${kind}, ${d.task.attempts}, ${owner}, ${rec.message},
               ${jsonbText(rec.data)}::jsonb
        FROM d
      )
      SELECT id FROM d`);
    return rows.length > 0;
  }
}

/** The trigger's to_jsonb(task row): parsed by one driver, text from another. */
function snapshot(value: unknown): Record<string, unknown> {
  const v: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (typeof v !== 'object' || v === null) throw new Error('callback delivery without its task snapshot');
  return v as Record<string, unknown>;
}
