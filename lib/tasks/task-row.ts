import type { Priority, TaskError, TaskEventView, TaskRecord, TaskStatus } from './task';

/** Raw SQL answers timestamps as text ("2026-01-02 03:04:05.678+00"); drivers differ. */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  const s = String(value)
    .replace(' ', 'T')
    .replace(/([+-]\d\d)$/, '$1:00');
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable timestamp ${JSON.stringify(value)}`);
  return d;
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** jsonb comes back parsed from both drivers, but text from some raw paths: accept both. */
function json(value: unknown): unknown {
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}

/** A `tasks` row from raw SQL (snake_case) as a TaskRecord. */
export function taskFromRow(r: Record<string, unknown>): TaskRecord {
  return {
    id: String(r.id),
    type: String(r.type),
    queue: String(r.queue),
    priority: r.priority as Priority,
    status: r.status as TaskStatus,
    payload: json(r.payload),
    result: json(r.result) ?? null,
    lastError: (json(r.last_error) as TaskError | null) ?? null,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    timeoutMs: Number(r.timeout_ms),
    runAt: toDateOrNull(r.run_at),
    callbackUrl: (r.callback_url as string | null) ?? null,
    metadata: (json(r.metadata) as Record<string, unknown> | null) ?? {},
    createdBy: String(r.created_by),
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    requestHash: (r.request_hash as string | null) ?? null,
    enqueueSeq: Number(r.enqueue_seq),
    leaseEpoch: Number(r.lease_epoch),
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresAt: toDateOrNull(r.lease_expires_at),
    cancelRequestedAt: toDateOrNull(r.cancel_requested_at),
    replays: Number(r.replays),
    createdAt: toDate(r.created_at),
    startedAt: toDateOrNull(r.started_at),
    finishedAt: toDateOrNull(r.finished_at),
    updatedAt: toDate(r.updated_at),
  };
}

/** A `task_events` row from raw SQL as the API shows it. */
export function eventFromRow(r: Record<string, unknown>): TaskEventView {
  return {
    id: String(r.id),
    taskId: String(r.task_id),
    at: toDate(r.at).toISOString(),
    kind: String(r.kind),
    attempt: Number(r.attempt),
    workerId: (r.worker_id as string | null) ?? null,
    message: (r.message as string | null) ?? null,
    data: json(r.data) ?? null,
  };
}
