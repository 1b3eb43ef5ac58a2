import { TRACE_FLAG_SAMPLED } from '../tracing/trace-context';
import type { ClaimedTask, Priority, TaskError, TaskEventView, TaskRecord, TaskStatus } from './task';

/** Raw SQL answers timestamps as text ("2026-01-02 03:04:05.678+00"); drivers differ. */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'number') return new Date(value);
  if (typeof value === 'string') {
    const fast = parseUtcTimestamp(value);
    if (fast !== null) return new Date(fast);
  }
  const s = String(value)
    .replace(' ', 'T')
    .replace(/([+-]\d\d)$/, '$1:00');
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable timestamp ${JSON.stringify(value)}`);
  return d;
}

/**
 * The form our sessions produce (TimeZone UTC): "YYYY-MM-DD HH:MM:SS[.f…]+00", read without
 * regular expressions or Date.parse — this runs for every timestamp of every row the worker
 * reads. Null for anything else, which the general path handles.
 */
function parseUtcTimestamp(s: string): number | null {
  const n = s.length;
  if (n < 22 || s.charCodeAt(10) !== 32 || s.charCodeAt(n - 3) !== 43 || s.charCodeAt(n - 1) !== 48)
    return null;
  if (s.charCodeAt(n - 2) !== 48) return null;
  let ms = 0;
  if (s.charCodeAt(19) === 46) {
    const fraction = s.slice(20, n - 3);
    ms = Math.floor(Number(`0.${fraction}`) * 1000);
  } else if (n !== 22) {
    return null;
  }
  const t = Date.UTC(
    Number(s.slice(0, 4)),
    Number(s.slice(5, 7)) - 1,
    Number(s.slice(8, 10)),
    Number(s.slice(11, 13)),
    Number(s.slice(14, 16)),
    Number(s.slice(17, 19)),
    ms,
  );
  return Number.isNaN(t) ? null : t;
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

/** A claimed row (the claim returns only what an attempt needs). */
export function claimedFromRow(r: Record<string, unknown>): ClaimedTask {
  return {
    id: String(r.id),
    type: String(r.type),
    queue: String(r.queue),
    priority: r.priority as Priority,
    concurrencyKey: (r.concurrency_key as string | null | undefined) ?? null,
    status: r.status as TaskStatus,
    payload: json(r.payload),
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    timeoutMs: Number(r.timeout_ms),
    runAt: toDateOrNull(r.run_at),
    metadata: (json(r.metadata) as Record<string, unknown> | null) ?? {},
    createdBy: String(r.created_by),
    enqueueSeq: Number(r.enqueue_seq),
    leaseEpoch: Number(r.lease_epoch),
    replays: Number(r.replays),
    createdAt: toDate(r.created_at),
    callbackUrl: (r.callback_url as string | null) ?? null,
    // A task stored before tracing existed has none: its id (32 hex digits without the
    // dashes, never all zero) is a stable stand-in, so its attempts still share one trace.
    traceId: (r.trace_id as string | null) ?? String(r.id).replaceAll('-', ''),
    parentSpanId: (r.parent_span_id as string | null) ?? null,
    traceFlags:
      r.trace_flags === null || r.trace_flags === undefined ? TRACE_FLAG_SAMPLED : Number(r.trace_flags),
  };
}

/**
 * A uuid[] column: drivers answer an array, to_jsonb (a callback's stored row) a JSON array,
 * and a raw text path `{a,b}`. Null (no dependencies) is [].
 */
function uuidArray(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') throw new Error(`unreadable uuid[] ${JSON.stringify(value)}`);
  const text = value;
  if (text.startsWith('[')) return (JSON.parse(text) as unknown[]).map(String);
  const inner = text.replace(/^\{|\}$/g, '');
  return inner ? inner.split(',') : [];
}

/** A `tasks` row from raw SQL (snake_case) as a TaskRecord. */
export function taskFromRow(r: Record<string, unknown>): TaskRecord {
  return {
    ...claimedFromRow(r),
    dependsOn: uuidArray(r.depends_on),
    hasChildren: r.has_children === true || r.has_children === 't',
    result: json(r.result) ?? null,
    lastError: (json(r.last_error) as TaskError | null) ?? null,
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    requestHash: (r.request_hash as string | null) ?? null,
    leaseOwner: (r.lease_owner as string | null) ?? null,
    leaseExpiresAt: toDateOrNull(r.lease_expires_at),
    cancelRequestedAt: toDateOrNull(r.cancel_requested_at),
    startedAt: toDateOrNull(r.started_at),
    finishedAt: toDateOrNull(r.finished_at),
    updatedAt: toDate(r.updated_at),
    scheduleId: (r.schedule_id as string | null | undefined) ?? null,
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
