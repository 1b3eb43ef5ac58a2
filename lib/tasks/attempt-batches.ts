import type { Database } from '../db/client';
import { newId } from '../ids';
import { leaseFenceText } from './lease-fence';
import type { TaskError } from './task';

/**
 * The worker's two hot statements in multi-row form: one round trip and one commit for a
 * whole batch of claims, or of successes, instead of one per task. Each row is still fenced
 * on its own (enqueue seq for claims, lease epoch for outcomes), so batching changes who
 * waits for whom, never who wins. Both are fixed texts run as prepared statements: planning
 * these CTEs costs more than running them on a batch, and now happens once per connection.
 */

export const LOST_WORKER: TaskError = {
  message: 'The worker running this attempt stopped answering (crashed, killed or frozen).',
  code: 'worker_lost',
  retryable: true,
};

// $1 input [{id, seq, e1, e2}], $2 worker id, $3 lease ms, $4 recovered message, $5 recovered data.
// id = ANY(ARRAY(...)) keeps the lookup one index probe per id whatever the planner believes
// about the table (a join on the recordset becomes a scan of every waiting task when
// statistics are stale, i.e. right after a burst of submissions). Rows are locked in id
// order so that concurrent batches cannot deadlock.
const CLAIM_SQL = `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, seq int, e1 uuid, e2 uuid)
  ), locked AS (
    SELECT t.id, t.status AS prev_status, t.enqueue_seq
    FROM tasks t
    WHERE t.id = ANY(ARRAY(SELECT id FROM input)) AND t.cancel_requested_at IS NULL
      AND (t.run_at IS NULL OR t.run_at <= now())
      AND (t.status IN ('queued', 'scheduled', 'retrying')
           OR (t.status = 'running' AND t.lease_expires_at < now() AND t.attempts < t.max_attempts))
    ORDER BY t.id
    FOR UPDATE OF t
  ), prev AS (
    SELECT locked.id, locked.prev_status, input.e1, input.e2
    FROM locked JOIN input ON input.id = locked.id AND input.seq = locked.enqueue_seq
  ), claimed AS (
    UPDATE tasks t SET status = 'running', attempts = t.attempts + 1, lease_epoch = t.lease_epoch + 1,
      lease_owner = $2::text, lease_expires_at = now() + $3::int * interval '1 millisecond',
      started_at = now(), updated_at = now()
    FROM prev WHERE t.id = prev.id
    RETURNING t.id, t.type, t.queue, t.priority, t.concurrency_key, t.status, t.payload, t.attempts, t.max_attempts,
      t.timeout_ms, t.run_at, t.metadata, t.created_by, t.enqueue_seq, t.lease_epoch, t.replays,
      t.created_at, t.callback_url, t.trace_id, t.parent_span_id, t.trace_flags, prev.prev_status, prev.e1, prev.e2
  ), recovered AS (
    INSERT INTO task_events (id, task_id, run, kind, attempt, worker_id, message, data)
    SELECT e1, id, replays, 'recovered', attempts, $2::text, $4::text, $5::jsonb
    FROM claimed WHERE prev_status = 'running'
  ), started AS (
    INSERT INTO task_events (id, task_id, run, kind, attempt, worker_id)
    SELECT e2, id, replays, 'started', attempts, $2::text FROM claimed
  )
  SELECT * FROM claimed`;

/**
 * The event ids a claim writes, chosen before its first try: if the commit's reply is lost,
 * a retry finds the `started` event and knows the claim was its own (AttemptStore.classify).
 */
export interface ClaimIds {
  recoveredEventId: string;
  startedEventId: string;
}

export function newClaimIds(): ClaimIds {
  return { recoveredEventId: newId(), startedEventId: newId() };
}

export interface ClaimItem {
  taskId: string;
  seq: number;
  ids: ClaimIds;
}

/** Claims the given messages' tasks; returns the rows claimed (with `prev_status`). */
export function claimBatch(
  database: Database,
  items: readonly ClaimItem[],
  workerId: string,
  leaseMs: number,
): Promise<Record<string, unknown>[]> {
  const input = JSON.stringify(
    items.map((i) => ({ id: i.taskId, seq: i.seq, e1: i.ids.recoveredEventId, e2: i.ids.startedEventId })),
  );
  return database.prepared('procurator_claim', CLAIM_SQL, [
    input,
    workerId,
    leaseMs,
    LOST_WORKER.message,
    JSON.stringify({ code: LOST_WORKER.code }),
  ]);
}

export interface Success {
  id: string;
  leaseEpoch: number;
  /** The `succeeded` event's id, chosen before the first try (see ClaimIds). */
  eventId: string;
  /** The result as JSON text (already checked for what jsonb refuses). */
  resultJson: string;
  durationMs: number;
}

// $1 input [{id, epoch, result, duration_ms, event_id}], $2 worker id.
const SUCCEED_SQL = `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, epoch int, result text, duration_ms int, event_id uuid)
  ), t AS (
    UPDATE tasks SET status = 'succeeded', result = input.result::jsonb, last_error = NULL, finished_at = now(),
      lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    FROM input
    WHERE tasks.id = ANY(ARRAY(SELECT id FROM input)) AND tasks.id = input.id
      AND ${leaseFenceText('tasks', 'input.epoch')}
    RETURNING tasks.id, tasks.type, tasks.queue, tasks.status, tasks.replays, tasks.attempts,
              tasks.has_children, input.event_id, input.duration_ms
  ), ev AS (
    INSERT INTO task_events (id, task_id, run, kind, attempt, worker_id, data)
    SELECT event_id, id, replays, 'succeeded', attempts, $2::text, jsonb_build_object('durationMs', duration_ms)
    FROM t
  )
  SELECT id, type, queue, status, has_children FROM t`;

/** Writes successes, each fenced by its lease epoch; returns the rows that were still ours. */
export function succeedBatch(
  database: Database,
  items: readonly Success[],
  workerId: string,
): Promise<Record<string, unknown>[]> {
  const input = JSON.stringify(
    items.map((i) => ({
      id: i.id,
      epoch: i.leaseEpoch,
      result: i.resultJson,
      duration_ms: Math.round(i.durationMs),
      event_id: i.eventId,
    })),
  );
  return database.prepared('procurator_succeed', SUCCEED_SQL, [input, workerId]);
}
