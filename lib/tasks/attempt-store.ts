import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import type { ClaimedTask, TaskError, TaskRecord, TaskStatus, TaskSummary } from './task';
import { eventInserts } from './event-sql';
import type { EventSpec } from './event-sql';
import { claimedFromRow, taskFromRow, toDateOrNull } from './task-row';
import { Coalescer } from '../batch/coalescer';
import type { CoalescerOptions } from '../batch/coalescer';
import { isTransientDbError } from '../db/transient-errors';
import { LOST_WORKER, claimBatch, succeedBatch } from './attempt-batches';
import type { Success } from './attempt-batches';

/**
 * Batches of at most 500 rows, at most 4 in flight per worker: enough to keep up under load
 * without holding many pool connections. A batch failing on a value (not on the connection)
 * is retried row by row so the bad row fails alone.
 */
const BATCHING: CoalescerOptions = {
  maxBatch: 500,
  maxConcurrent: 4,
  isolateOnError: (err) => !isTransientDbError(err),
};

/** A task the reconciler checks against the queue. */
export interface ActiveTask {
  id: string;
  queue: string;
  priority: TaskRecord['priority'];
  type: string;
  status: string;
  seq: number;
  runAt: Date | null;
}

/** The fence of one attempt: only the holder of the current epoch may write its outcome. */
export interface Lease {
  id: string;
  leaseEpoch: number;
}

/** What the database says about a delivered message. */
export type ClaimResult =
  /** This worker runs the attempt; `task.leaseEpoch` fences its writes. */
  | { kind: 'claimed'; task: ClaimedTask; recovered: boolean }
  /** The message is not (or no longer) the task's live one, or the task has ended: ack it. */
  | { kind: 'drop'; reason: 'missing' | 'stale' | 'ended' }
  /** Another worker holds a live lease: leave the message; it is looked at again when idle. */
  | { kind: 'busy' }
  /** Not due yet by the database's clock: put it back under `seq` until `runAt`. */
  | { kind: 'not_due'; task: TaskRecord; seq: number; runAt: Date }
  /** The lost attempt was the last one: the task is now dead; dead-letter the message. */
  | { kind: 'exhausted'; task: TaskRecord }
  /** Cancelled while its worker was lost: the task is now cancelled; ack the message. */
  | { kind: 'cancelled'; task: TaskRecord };

/** A row the claim statement returned: this worker runs the attempt. */
function claimedResult(row: Record<string, unknown>): ClaimResult {
  return { kind: 'claimed', task: claimedFromRow(row), recovered: row.prev_status === 'running' };
}

/**
 * The worker's writes. Every one is a single conditional statement with its events, so
 * the database alone decides who runs an attempt and whose outcome counts.
 */
export class AttemptStore {
  private readonly claimers = new Map<
    string,
    Coalescer<{ taskId: string; seq: number }, Record<string, unknown> | undefined>
  >();
  private readonly succeeders = new Map<string, Coalescer<Success, Record<string, unknown> | undefined>>();

  constructor(private readonly database: Database) {}

  /**
   * Starts an attempt of the task named by a message: `queued → running` (or takes over a
   * `running` task whose lease expired) in one conditional update that raises the lease
   * epoch and counts the attempt now, before anything runs (a crash never reaches a catch).
   * Concurrent claims are written together (see Coalescer); each is fenced on its own.
   */
  async claim(taskId: string, seq: number, workerId: string, leaseMs: number): Promise<ClaimResult> {
    const row = await this.claimer(workerId, leaseMs).submit({ taskId, seq });
    if (row) return claimedResult(row);
    return this.classify(taskId, seq, workerId, leaseMs);
  }

  private claimer(workerId: string, leaseMs: number) {
    const key = `${workerId}|${leaseMs}`;
    let c = this.claimers.get(key);
    if (!c) {
      c = new Coalescer<{ taskId: string; seq: number }, Record<string, unknown> | undefined>(
        async (items) => {
          // One message per task in a batch: a duplicate is claimed alone, after.
          const first = new Map<string, number>();
          items.forEach((it, i) => first.set(it.taskId, first.get(it.taskId) ?? i));
          const unique = items.filter((it, i) => first.get(it.taskId) === i);
          const rows = await claimBatch(this.database, unique, workerId, leaseMs);
          const byKey = new Map(rows.map((r) => [`${String(r.id)}/${String(r.enqueue_seq)}`, r]));
          return Promise.all(
            items.map(async (it, i) =>
              first.get(it.taskId) === i
                ? byKey.get(`${it.taskId}/${it.seq}`)
                : (await claimBatch(this.database, [it], workerId, leaseMs))[0],
            ),
          );
        },
        BATCHING,
      );
      this.claimers.set(key, c);
    }
    return c;
  }

  /** Why a claim changed nothing, and the follow-up write when the task must end now. */
  private async classify(
    taskId: string,
    seq: number,
    workerId: string,
    leaseMs: number,
  ): Promise<ClaimResult> {
    const rows = await this.database.rows(sql`
      SELECT *, (lease_expires_at IS NOT NULL AND lease_expires_at < now()) AS lease_expired,
             (run_at IS NOT NULL AND run_at > now()) AS not_due
      FROM tasks WHERE id = ${taskId}::uuid`);
    const row = rows[0];
    if (!row) return { kind: 'drop', reason: 'missing' };
    const task = taskFromRow(row);
    if (task.enqueueSeq !== seq) return { kind: 'drop', reason: 'stale' };
    if (task.status === 'running') {
      if (!row.lease_expired) return { kind: 'busy' };
      if (task.cancelRequestedAt) {
        const cancelled = await this.endLost(task, workerId, 'cancelled', null);
        return cancelled ? { kind: 'cancelled', task: cancelled } : { kind: 'busy' };
      }
      if (task.attempts < task.maxAttempts) {
        // The lease ran out between the claim and this look (a message goes idle from its
        // delivery, a lease from its claim: the recoverer can be a few ms early). Attempts are
        // left, so the task is taken over, not ended: claim it again, now that it has expired.
        const [again] = await claimBatch(this.database, [{ taskId, seq }], workerId, leaseMs);
        return again ? claimedResult(again) : { kind: 'busy' };
      }
      const dead = await this.endLost(task, workerId, 'dead', LOST_WORKER);
      return dead ? { kind: 'exhausted', task: dead } : { kind: 'busy' };
    }
    if (task.status === 'queued' || task.status === 'scheduled' || task.status === 'retrying') {
      if (row.not_due && task.runAt) {
        const next = await this.bumpSeq(taskId, seq);
        if (next === null) return { kind: 'drop', reason: 'stale' };
        return { kind: 'not_due', task, seq: next, runAt: task.runAt };
      }
      return { kind: 'busy' };
    }
    return { kind: 'drop', reason: 'ended' };
  }

  /** Ends a task whose worker was lost, fenced on the epoch we saw and on the expired lease. */
  private async endLost(
    task: TaskRecord,
    workerId: string,
    status: 'dead' | 'cancelled',
    error: TaskError | null,
  ): Promise<TaskRecord | null> {
    const events: EventSpec[] =
      status === 'dead'
        ? [
            { kind: 'failed', message: LOST_WORKER.message, data: LOST_WORKER },
            { kind: 'dead_lettered', message: 'no attempts left', data: { reason: 'attempts_exhausted' } },
          ]
        : [{ kind: 'cancelled', message: 'cancelled while its worker was lost' }];
    const rows = await this.database.rows(sql`
      WITH e AS (
        UPDATE tasks SET status = ${status}, last_error = COALESCE(${error ? JSON.stringify(error) : null}::jsonb, last_error),
          finished_at = now(), updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ${task.id}::uuid AND lease_epoch = ${task.leaseEpoch} AND status = 'running'
          AND lease_expires_at < now()
        RETURNING *
      )${eventInserts('e', workerId, events)}
      SELECT * FROM e`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  /** Gives the task a new live message seq (fenced on the old one). Null if it changed. */
  async bumpSeq(taskId: string, seq: number): Promise<number | null> {
    const rows = await this.database.rows<{ enqueue_seq: number }>(sql`
      UPDATE tasks SET enqueue_seq = enqueue_seq + 1
      WHERE id = ${taskId}::uuid AND enqueue_seq = ${seq}
      RETURNING enqueue_seq`);
    return rows[0] ? Number(rows[0].enqueue_seq) : null;
  }

  /** The attempt succeeded. Null when the lease was lost: the result is discarded. */
  async succeed(
    lease: Lease,
    workerId: string,
    resultJson: string,
    durationMs: number,
  ): Promise<TaskSummary | null> {
    const row = await this.succeeder(workerId).submit({
      id: lease.id,
      leaseEpoch: lease.leaseEpoch,
      resultJson,
      durationMs,
    });
    return row
      ? {
          id: String(row.id),
          type: String(row.type),
          queue: String(row.queue),
          status: row.status as TaskStatus,
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
      }, BATCHING);
      this.succeeders.set(workerId, c);
    }
    return c;
  }

  /** The attempt failed and will be retried after `delayMs` (by the database's clock). */
  async retry(lease: Lease, workerId: string, error: TaskError, delayMs: number): Promise<TaskRecord | null> {
    return this.transition(
      lease,
      workerId,
      sql`status = 'retrying', last_error = ${JSON.stringify(error)}::jsonb,
          run_at = now() + ${Math.max(0, Math.round(delayMs))} * interval '1 millisecond',
          enqueue_seq = enqueue_seq + 1`,
      [
        { kind: 'failed', message: error.message, data: error },
        { kind: 'retry_scheduled', message: `retry in ${Math.round(delayMs)} ms`, data: { delayMs } },
      ],
    );
  }

  /** The attempt failed and the task will not be retried: it goes to the dead-letter queue. */
  async die(lease: Lease, workerId: string, error: TaskError, reason: string): Promise<TaskRecord | null> {
    return this.transition(
      lease,
      workerId,
      sql`status = 'dead', last_error = ${JSON.stringify(error)}::jsonb, finished_at = now()`,
      [
        { kind: 'failed', message: error.message, data: error },
        { kind: 'dead_lettered', message: reason, data: { reason } },
      ],
    );
  }

  /** The running attempt stopped because the task was cancelled. */
  async cancelled(lease: Lease, workerId: string): Promise<TaskRecord | null> {
    return this.transition(lease, workerId, sql`status = 'cancelled', finished_at = now()`, [
      { kind: 'cancelled', message: 'cancelled while running' },
    ]);
  }

  /**
   * Extends the leases this worker still holds. Returns, for each lease still held, whether
   * its task was asked to cancel; a lease missing from the answer was lost.
   */
  async extendLeases(
    workerId: string,
    leases: readonly Lease[],
    leaseMs: number,
  ): Promise<Map<string, boolean>> {
    const held = new Map<string, boolean>();
    if (leases.length === 0) return held;
    const input = JSON.stringify(leases.map((l) => ({ id: l.id, epoch: l.leaseEpoch })));
    const rows = await this.database.rows<{ id: string; cancel_requested_at: unknown }>(sql`
      WITH x AS (SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS x(id uuid, epoch int))
      UPDATE tasks t SET lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
      FROM x
      WHERE t.id = ANY(ARRAY(SELECT id FROM x)) AND t.id = x.id AND t.lease_epoch = x.epoch
        AND t.status = 'running' AND t.lease_owner = ${workerId}
      RETURNING t.id, t.cancel_requested_at`);
    for (const r of rows) held.set(String(r.id), toDateOrNull(r.cancel_requested_at) !== null);
    return held;
  }

  /**
   * Marks tasks the scheduler moved into their streams as `queued` (they were `scheduled` or
   * `retrying`). Only a view for users: a claim accepts all three statuses.
   */
  async markQueued(taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.database.rows(sql`
      UPDATE tasks SET status = 'queued', updated_at = now()
      WHERE id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(taskIds)}::jsonb)))
        AND status IN ('scheduled', 'retrying') AND (run_at IS NULL OR run_at <= now() + interval '5 seconds')`);
  }

  /**
   * One page of tasks the queue should hold: waiting ones, and running ones whose lease
   * expired. Only rows untouched for `graceMs` (an API between its commit and its XADD is
   * not an orphan), ordered by id from `after`.
   */
  async activeTasks(after: string | null, limit: number, graceMs: number): Promise<ActiveTask[]> {
    const rows = await this.database.rows(sql`
      SELECT id, queue, priority, type, status, enqueue_seq, run_at FROM tasks
      WHERE status IN ('scheduled', 'queued', 'retrying', 'running')
        AND id > ${after ?? '00000000-0000-0000-0000-000000000000'}::uuid
        AND ((status IN ('scheduled', 'queued', 'retrying')
              AND updated_at < now() - ${graceMs} * interval '1 millisecond')
          OR (status = 'running' AND lease_expires_at < now() - ${graceMs} * interval '1 millisecond'))
      ORDER BY id LIMIT ${limit}`);
    return rows.map((r) => ({
      id: String(r.id),
      queue: String(r.queue),
      priority: r.priority as ActiveTask['priority'],
      type: String(r.type),
      status: String(r.status),
      seq: Number(r.enqueue_seq),
      runAt: toDateOrNull(r.run_at),
    }));
  }

  private async transition(
    lease: Lease,
    workerId: string,
    set: ReturnType<typeof sql>,
    events: EventSpec[],
  ): Promise<TaskRecord | null> {
    // The fence: the epoch this worker claimed, and the row still running under it.
    const rows = await this.database.rows(sql`
      WITH t AS (
        UPDATE tasks SET ${set}, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = ${lease.id}::uuid AND lease_epoch = ${lease.leaseEpoch} AND status = 'running'
        RETURNING *
      )${eventInserts('t', workerId, events)}
      SELECT * FROM t`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }
}
