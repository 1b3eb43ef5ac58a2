/** The shapes of a task as the store keeps it and as the API shows it. */

export const TASK_STATUSES = [
  'waiting',
  'scheduled',
  'queued',
  'running',
  'retrying',
  'succeeded',
  'dead',
  'cancelled',
  'discarded',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses after which nothing runs again (short of a replay). */
export const TERMINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'succeeded',
  'dead',
  'cancelled',
  'discarded',
]);

/** Statuses of a task that may still run: a queue holding one cannot be deleted. */
export const LIVE_STATUSES: readonly TaskStatus[] = ['waiting', 'scheduled', 'queued', 'running', 'retrying'];

export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface TaskError {
  message: string;
  code: string;
  retryable: boolean;
  [key: string]: unknown;
}

/** A task row, camelCased, with every column the worker needs. */
export interface TaskRecord {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  concurrencyKey: string | null;
  status: TaskStatus;
  payload: unknown;
  result: unknown;
  lastError: TaskError | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: Date | null;
  callbackUrl: string | null;
  metadata: Record<string, unknown>;
  createdBy: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  enqueueSeq: number;
  leaseEpoch: number;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  cancelRequestedAt: Date | null;
  replays: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  /** The task's W3C trace (32 hex characters). */
  traceId: string;
  /** The span its attempts and callbacks are children of; null: they start the trace. */
  parentSpanId: string | null;
  /** W3C trace flags (bit 0: sampled). */
  traceFlags: number;
  /** The schedule that fired it; null for a client's submission. */
  scheduleId: string | null;
  /** The tasks it waits for (README "Dependencies"); [] when none. */
  dependsOn: string[];
  /** Some task depends on this one: its end settles them. */
  hasChildren: boolean;
}

/** What a worker reads of a task it claims: what the attempt needs, nothing more. */
export type ClaimedTask = Pick<
  TaskRecord,
  | 'id'
  | 'type'
  | 'queue'
  | 'priority'
  | 'concurrencyKey'
  | 'status'
  | 'payload'
  | 'attempts'
  | 'maxAttempts'
  | 'timeoutMs'
  | 'runAt'
  | 'metadata'
  | 'createdBy'
  | 'enqueueSeq'
  | 'leaseEpoch'
  | 'replays'
  | 'createdAt'
  | 'callbackUrl'
  | 'traceId'
  | 'parentSpanId'
  | 'traceFlags'
>;

/** What is announced of a task that ended (metrics, alerts). */
export type TaskSummary = Pick<TaskRecord, 'id' | 'type' | 'queue' | 'status'> & {
  lastError?: TaskError | null;
  /** Tasks depend on it: after its end commits, the ones it released are enqueued. */
  hasChildren?: boolean;
};

/** The task as the API answers it (API.md). */
export interface TaskView {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  concurrencyKey: string | null;
  status: TaskStatus;
  payload: unknown;
  result: unknown;
  lastError: TaskError | null;
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  runAt: string | null;
  callbackUrl: string | null;
  metadata: Record<string, unknown>;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  traceId: string;
  scheduleId: string | null;
  dependsOn: string[];
}

export interface TaskEventView {
  id: string;
  taskId: string;
  at: string;
  kind: string;
  attempt: number;
  workerId: string | null;
  message: string | null;
  data: unknown;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The public view of a task row: internal fencing columns stay inside. */
export function toTaskView(t: TaskRecord): TaskView {
  return {
    id: t.id,
    type: t.type,
    queue: t.queue,
    priority: t.priority,
    concurrencyKey: t.concurrencyKey,
    status: t.status,
    payload: t.payload,
    result: t.result ?? null,
    lastError: t.lastError,
    attempts: t.attempts,
    maxAttempts: t.maxAttempts,
    timeoutMs: t.timeoutMs,
    runAt: iso(t.runAt),
    callbackUrl: t.callbackUrl,
    metadata: t.metadata,
    createdBy: t.createdBy,
    createdAt: t.createdAt.toISOString(),
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
    updatedAt: t.updatedAt.toISOString(),
    traceId: t.traceId,
    scheduleId: t.scheduleId,
    dependsOn: t.dependsOn,
  };
}
