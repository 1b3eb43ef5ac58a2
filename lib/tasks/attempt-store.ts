import { sql } from 'drizzle-orm';
import { Coalescer } from '../batch/coalescer';
import type { Database } from '../db/client';
import { isTransientDbError } from '../db/transient-errors';
import type { CoalescerOptions } from '../batch/coalescer';
import { LOST_WORKER, claimBatch } from './attempt-batches';
import type { ClaimItem } from './attempt-batches';
import { eventInserts } from './event-sql';
import type { EventSpec } from './event-sql';
import { leaseFence, leaseFenceText } from './lease-fence';
import type { ClaimedTask, TaskError, TaskRecord } from './task';
import { claimedFromRow, taskFromRow, toDateOrNull } from './task-row';

/**
 * Batches of at most 500 rows, at most 4 in flight per worker: enough to keep up under load
 * without holding many pool connections. A batch failing on a value (not on the connection)
 * is retried row by row so the bad row fails alone.
 */
export const ATTEMPT_BATCHING: CoalescerOptions = {
  maxBatch: 500,
  maxConcurrent: 4,
  isolateOnError: (err) => !isTransientDbError(err),
};

/** A task the reconciler checks against the queue. */
export interface ActiveTask {
  id: string;
  queue: string;
  priority: TaskRecord['priority'];
  concurrencyKey: string | null;
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
  /**
   * Another worker (`owner`) holds a live lease on the task: hand the message back to it,
   * so that it is not taken over again and again while that worker runs the task.
   */
  | { kind: 'busy'; owner: string | null }
  /** Not due yet by the database's clock: put it back under `seq` until `runAt`. */
  | { kind: 'not_due'; task: TaskRecord; seq: number; runAt: Date }
  /** The lost attempt was the last one: the task is now dead; dead-letter the message. */
  | { kind: 'exhausted'; task: TaskRecord }
  /** Asked to cancel before this claim (waiting, or while its worker was lost): now cancelled; ack. */
  | { kind: 'cancelled'; task: TaskRecord };

/** A row the claim statement returned: this worker runs the attempt. */
function claimedResult(row: Record<string, unknown>, recovered = row.prev_status === 'running'): ClaimResult {
  return { kind: 'claimed', task: claimedFromRow(row), recovered };
}

/**
 * The worker's claims and leases. Every write is a single conditional statement with its
 * events, so the database alone decides who runs an attempt.
 */
export class AttemptStore {
  private readonly claimers = new Map<string, Coalescer<ClaimItem, Record<string, unknown> | undefined>>();

  constructor(private readonly database: Database) {}

  /**
   * Starts an attempt of the task named by a message: `queued → running` (or takes over a
   * `running` task whose lease expired) in one conditional update that raises the lease
   * epoch and counts the attempt now, before anything runs (a crash never reaches a catch).
   * Concurrent claims are written together (see Coalescer); each is fenced on its own. Call it
   * again with the same `item.ids` after a failure: a claim that committed but whose reply
   * was lost is then recognised as this worker's own.
   */
  async claim(item: ClaimItem, workerId: string, leaseMs: number): Promise<ClaimResult> {
    const row = await this.claimer(workerId, leaseMs).submit(item);
    if (row) return claimedResult(row);
    return this.classify(item, workerId, leaseMs);
  }

  private claimer(workerId: string, leaseMs: number) {
    const key = `${workerId}|${leaseMs}`;
    let c = this.claimers.get(key);
    if (!c) {
      c = new Coalescer<ClaimItem, Record<string, unknown> | undefined>(async (items) => {
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
      }, ATTEMPT_BATCHING);
      this.claimers.set(key, c);
    }
    return c;
  }

  /** Why a claim changed nothing, and the follow-up write when the task must end now. */
  private async classify(item: ClaimItem, workerId: string, leaseMs: number): Promise<ClaimResult> {
    const { taskId, seq, ids } = item;
    const rows = await this.database.rows(sql`
      SELECT *, (lease_expires_at IS NOT NULL AND lease_expires_at < now()) AS lease_expired,
             (run_at IS NOT NULL AND run_at > now()) AS not_due,
             EXISTS (SELECT 1 FROM task_events WHERE id = ${ids.startedEventId}::uuid) AS claimed_by_us,
             EXISTS (SELECT 1 FROM task_events WHERE id = ${ids.recoveredEventId}::uuid) AS recovered_by_us
      FROM tasks WHERE id = ${taskId}::uuid`);
    const row = rows[0];
    if (!row) return { kind: 'drop', reason: 'missing' };
    const task = taskFromRow(row);
    if (task.enqueueSeq !== seq) return { kind: 'drop', reason: 'stale' };
    if (task.status === 'running') {
      // Our own claim, whose commit's reply was lost: the `started` event with our id is
      // there and the lease is still ours. Run it; claiming again would burn an attempt.
      if (row.claimed_by_us === true && task.leaseOwner === workerId) {
        return claimedResult(row, row.recovered_by_us === true);
      }
      if (!row.lease_expired) return { kind: 'busy', owner: task.leaseOwner };
      if (task.cancelRequestedAt) {
        const cancelled = await this.endLost(task, workerId, 'cancelled', null);
        return cancelled ? { kind: 'cancelled', task: cancelled } : { kind: 'busy', owner: null };
      }
      if (task.attempts < task.maxAttempts) {
        // The lease ran out between the claim and this look (a message goes idle from its
        // delivery, a lease from its claim: the recoverer can be a few ms early). Attempts are
        // left, so the task is taken over, not ended: claim it again, now that it has expired.
        const [again] = await claimBatch(this.database, [item], workerId, leaseMs);
        return again ? claimedResult(again) : { kind: 'busy', owner: null };
      }
      const dead = await this.endLost(task, workerId, 'dead', LOST_WORKER);
      return dead ? { kind: 'exhausted', task: dead } : { kind: 'busy', owner: null };
    }
    if (task.status === 'queued' || task.status === 'scheduled' || task.status === 'retrying') {
      if (task.cancelRequestedAt) {
        // Asked to cancel while it ran, and its outcome write did not see the request (a
        // version before the write checked it): waiting now, it never starts.
        const cancelled = await this.cancelWaitingFlagged(task, workerId);
        return cancelled ? { kind: 'cancelled', task: cancelled } : { kind: 'drop', reason: 'stale' };
      }
      if (row.not_due && task.runAt) {
        const next = await this.bumpSeq(taskId, seq);
        if (next === null) return { kind: 'drop', reason: 'stale' };
        return { kind: 'not_due', task, seq: next, runAt: task.runAt };
      }
      return { kind: 'busy', owner: null };
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
        WHERE id = ${task.id}::uuid AND ${leaseFence('tasks', task.leaseEpoch)} AND lease_expires_at < now()
        RETURNING *
      )${eventInserts('e', workerId, events)}
      SELECT * FROM e`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  /** Cancels a waiting task that carries a cancel request, fenced on its live message seq. */
  private async cancelWaitingFlagged(task: TaskRecord, workerId: string): Promise<TaskRecord | null> {
    const rows = await this.database.rows(sql`
      WITH c AS (
        UPDATE tasks SET status = 'cancelled', finished_at = now(), updated_at = now()
        WHERE id = ${task.id}::uuid AND enqueue_seq = ${task.enqueueSeq}
          AND status IN ('scheduled', 'queued', 'retrying') AND cancel_requested_at IS NOT NULL
        RETURNING *
      )${eventInserts('c', workerId, [{ kind: 'cancelled', message: 'cancelled before it started again' }])}
      SELECT * FROM c`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  /** Gives the task a new live message seq (fenced on the old one). Null if it changed. */
  async bumpSeq(taskId: string, seq: number): Promise<number | null> {
    return (await this.bumpSeqs([{ id: taskId, seq }])).get(taskId) ?? null;
  }

  /**
   * Gives many tasks a new live message seq in one statement, each fenced on the seq it had.
   * Returns the new seq by task id; a task whose seq changed meanwhile is left out.
   */
  async bumpSeqs(tasks: readonly { id: string; seq: number }[]): Promise<Map<string, number>> {
    const bumped = new Map<string, number>();
    if (tasks.length === 0) return bumped;
    const rows = await this.database.rows<{ id: string; enqueue_seq: number }>(sql`
      WITH x AS (SELECT * FROM jsonb_to_recordset(${JSON.stringify(tasks)}::jsonb) AS x(id uuid, seq int))
      UPDATE tasks t SET enqueue_seq = t.enqueue_seq + 1
      FROM x
      WHERE t.id = ANY(ARRAY(SELECT id FROM x)) AND t.id = x.id AND t.enqueue_seq = x.seq
      RETURNING t.id, t.enqueue_seq`);
    for (const r of rows) bumped.set(String(r.id), Number(r.enqueue_seq));
    return bumped;
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
      WHERE t.id = ANY(ARRAY(SELECT id FROM x)) AND t.id = x.id AND ${sql.raw(leaseFenceText('t', 'x.epoch'))}
        AND t.lease_owner = ${workerId}
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
   * not an orphan), ordered by id from `after`. Walks tasks_active_id_idx, which holds only
   * unfinished tasks, so a page costs the same however much history the table keeps.
   */
  async activeTasks(after: string | null, limit: number, graceMs: number): Promise<ActiveTask[]> {
    const rows = await this.database.rows(sql`
      SELECT id, queue, priority, concurrency_key, type, status, enqueue_seq, run_at FROM tasks
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
      concurrencyKey: (r.concurrency_key as string | null) ?? null,
      type: String(r.type),
      status: String(r.status),
      seq: Number(r.enqueue_seq),
      runAt: toDateOrNull(r.run_at),
    }));
  }
}
