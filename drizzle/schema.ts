import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const timestamps = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** PostgreSQL's 64-bit transaction id (never wraps); read as its decimal text. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/**
 * The transaction that wrote a log row (task event or audit entry), for the live tail (README
 * "Live tail"): transactions below the oldest one still running have all ended, so rows read
 * in (tx, id) order up to that horizon never gain an earlier neighbour later. Filled by the
 * default; rows older than migration 0011 share the migration's own id.
 */
const writtenBy = () => xid8('tx').default(sql`pg_current_xact_id()`);

/** API users. Only a SHA-256 hash of each token is kept. */
export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role').notNull(),
    tokenHash: text('token_hash').notNull(),
    rateLimitRps: integer('rate_limit_rps'),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    tokenRotatedAt: timestamps('token_rotated_at'),
    lastUsedAt: timestamps('last_used_at'),
    deletedAt: timestamps('deleted_at'),
  },
  (t) => [
    uniqueIndex('users_token_hash_key').on(t.tokenHash),
    uniqueIndex('users_active_name_key')
      .on(t.name)
      .where(sql`${t.deletedAt} is null`),
    check('users_role_check', sql`${t.role} in ('admin','ops','dev')`),
  ],
);

/**
 * The record of every task. Two integers fence concurrent writers:
 * - `enqueue_seq` names the one queue message that may start the task; every (re-)enqueue
 *   increments it, so a stale or duplicated message is recognised and dropped;
 * - `lease_epoch` names the attempt that may write an outcome; every claim increments it, so
 *   a worker that lost its claim changes nothing.
 */
export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    queue: text('queue').notNull(),
    priority: text('priority').notNull(),
    /** Fair sharing inside the queue: tasks of different keys start round-robin. */
    concurrencyKey: text('concurrency_key'),
    status: text('status').notNull(),
    payload: jsonb('payload').notNull(),
    result: jsonb('result'),
    lastError: jsonb('last_error'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    timeoutMs: integer('timeout_ms').notNull(),
    runAt: timestamps('run_at'),
    callbackUrl: text('callback_url'),
    metadata: jsonb('metadata').notNull().default({}),
    createdBy: text('created_by').notNull(),
    idempotencyKey: text('idempotency_key'),
    requestHash: text('request_hash'),
    enqueueSeq: integer('enqueue_seq').notNull().default(1),
    leaseEpoch: integer('lease_epoch').notNull().default(0),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: timestamps('lease_expires_at'),
    cancelRequestedAt: timestamps('cancel_requested_at'),
    replays: integer('replays').notNull().default(0),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    startedAt: timestamps('started_at'),
    finishedAt: timestamps('finished_at'),
    updatedAt: timestamps('updated_at').notNull().defaultNow(),
    // W3C trace context (README "Tracing"): the task's trace, the span its attempts are
    // children of (null: they are the trace's roots) and the trace flags. Null trace_id: a
    // task stored before tracing existed (its id stands in as its trace id).
    traceId: text('trace_id'),
    parentSpanId: text('parent_span_id'),
    traceFlags: smallint('trace_flags'),
    // The schedule that fired it (README "Schedules"); null for a task submitted by a client.
    // No foreign key: a deleted schedule leaves its tasks, which keep naming it.
    scheduleId: uuid('schedule_id'),
    // Dependencies (README "Dependencies"): the tasks this one waits for, as submitted (null:
    // none), and how many of them have not succeeded yet; it stays `waiting` until that is 0.
    dependsOn: uuid('depends_on').array(),
    unmetDependencies: integer('unmet_dependencies'),
    // Some task depends on this one: its end settles them (trigger tasks_settle_dependents,
    // migration 0010). False for nearly every task, so nearly every end skips the trigger.
    hasChildren: boolean('has_children').notNull().default(false),
  },
  (t) => [
    uniqueIndex('tasks_idempotency_key')
      .on(t.createdBy, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('tasks_created_by_id_idx').on(t.createdBy, t.id),
    // Dead tasks are listed by the DLQ; other statuses are found through the active index
    // below or by walking ids. A full (status, id) index would be rewritten by every
    // transition of every task, the hottest writes there are.
    index('tasks_dead_id_idx')
      .on(t.id)
      .where(sql`${t.status} = 'dead'`),
    // The reconciler pages through unfinished tasks by id; finished ones never enter this index.
    index('tasks_active_id_idx')
      .on(t.id)
      .where(sql`${t.status} in ('scheduled','queued','running','retrying')`),
    // The pruner finds what retention allows to delete, oldest end first. For an ended task
    // `updated_at` is when it reached that status (it never changes again), and only
    // ended rows enter this index: one entry per task, written by its last transition.
    index('tasks_ended_idx')
      .on(t.status, t.updatedAt)
      .where(sql`${t.status} in ('succeeded','cancelled','discarded','dead')`),
    check(
      'tasks_status_check',
      sql`${t.status} in ('waiting','scheduled','queued','running','retrying','succeeded','dead','cancelled','discarded')`,
    ),
    check('tasks_priority_check', sql`${t.priority} in ('high','normal','low')`),
  ],
);

/**
 * Who waits for whom: one row per (parent, child) of `dependsOn`, found by parent when the
 * parent ends (its children are in `tasks.depends_on` already). Written with the child; a row
 * is useless once its parent has ended, and goes when retention deletes the parent. No
 * foreign keys: the child may be pruned first (cancelled while its parent still runs).
 */
export const taskDependencies = pgTable(
  'task_dependencies',
  {
    parentId: uuid('parent_id').notNull(),
    childId: uuid('child_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.parentId, t.childId] })],
);

/** Append-only history of every transition; `run` counts replays so each run ends once. */
export const taskEvents = pgTable(
  'task_events',
  {
    id: uuid('id').primaryKey(),
    // No foreign key: events are only written by the statement that changes their task, in
    // the same transaction, and the per-row check of a foreign key doubled the cost of the
    // most frequent insert there is.
    taskId: uuid('task_id').notNull(),
    run: integer('run').notNull().default(0),
    at: timestamps('at').notNull().defaultNow(),
    kind: text('kind').notNull(),
    attempt: integer('attempt').notNull().default(0),
    workerId: text('worker_id'),
    message: text('message'),
    data: jsonb('data'),
    tx: writtenBy(),
  },
  (t) => [
    index('task_events_task_id_idx').on(t.taskId, t.id),
    // The live tail reads what committed past its horizon.
    index('task_events_tx_idx').on(t.tx),
    // /v1/logs?kind=…: newest events of one kind without walking every other kind.
    index('task_events_kind_id_idx').on(t.kind, t.id),
    // The invariant "exactly one recorded end per run", enforced by the database itself.
    uniqueIndex('task_events_one_end_per_run')
      .on(t.taskId, t.run)
      .where(sql`${t.kind} in ('succeeded','dead_lettered','cancelled')`),
  ],
);

/** Who did what privileged action, when, under which request. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: uuid('id').primaryKey(),
    at: timestamps('at').notNull().defaultNow(),
    actorId: text('actor_id').notNull(),
    actorName: text('actor_name'),
    action: text('action').notNull(),
    target: text('target'),
    requestId: text('request_id'),
    data: jsonb('data'),
    tx: writtenBy(),
  },
  (t) => [
    index('audit_log_actor_idx').on(t.actorId, t.id),
    index('audit_log_tx_idx').on(t.tx),
    // /v1/logs?kind=… and ?taskId=… on the audit side.
    index('audit_log_action_id_idx').on(t.action, t.id),
    index('audit_log_target_id_idx').on(t.target, t.id),
  ],
);

/**
 * The callback outbox: one row per end (`succeeded`, `dead`, `cancelled`) of a task with a
 * callbackUrl. Rows are written by the trigger `tasks_callback_outbox` (migration
 * 0002_callbacks_trigger) in the transaction that ends the task, so every path that ends a
 * task produces its delivery without knowing about callbacks. `task` is the row as it ended
 * (a replay may change the live row before the delivery goes out); it is dropped once the
 * delivery is settled. `id` is the delivery id receivers de-duplicate on.
 */
export const callbackDeliveries = pgTable(
  'callback_deliveries',
  {
    id: uuid('id').primaryKey(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    run: integer('run').notNull().default(0),
    event: text('event').notNull(),
    url: text('url').notNull(),
    task: jsonb('task'),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAt: timestamps('next_at').notNull().defaultNow(),
    lastError: text('last_error'),
    leaseOwner: text('lease_owner'),
    leasedUntil: timestamps('leased_until'),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    updatedAt: timestamps('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('callback_deliveries_one_per_end').on(t.taskId, t.run, t.event),
    // Deliverers scan only what is still to be sent; settled rows never enter this index.
    index('callback_deliveries_due_idx')
      .on(t.nextAt)
      .where(sql`${t.status} = 'pending'`),
    check('callback_deliveries_status_check', sql`${t.status} in ('pending','delivered','failed')`),
  ],
);

/**
 * Keys that sign callbacks when SIGNING_KEYS is not set. The current key is the one not
 * retired (at most one, enforced by an index, so two processes generating the first key at
 * once keep one). A retired key loses its private half and stays published for a grace
 * period, so signatures made just before a rotation still verify.
 */
export const signingKeys = pgTable(
  'signing_keys',
  {
    kid: text('kid').primaryKey(),
    algorithm: text('algorithm').notNull(),
    privateJwk: jsonb('private_jwk'),
    publicJwk: jsonb('public_jwk').notNull(),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    retiredAt: timestamps('retired_at'),
  },
  (t) => [
    uniqueIndex('signing_keys_one_current')
      .on(sql`(${t.retiredAt} is null)`)
      .where(sql`${t.retiredAt} is null`),
    check('signing_keys_algorithm_check', sql`${t.algorithm} in ('EdDSA','ES256')`),
  ],
);

/**
 * Every queue that exists: its name is registered here by the first submission to it (within
 * MAX_QUEUES), with its pause state (`paused_at` set). The record lives here, not in Redis: a
 * Redis restart must not resume a queue somebody paused, nor forget a queue.
 */
export const queueStates = pgTable('queue_states', {
  name: text('name').primaryKey(),
  createdAt: timestamps('created_at').notNull().defaultNow(),
  pausedAt: timestamps('paused_at'),
  pausedBy: text('paused_by'),
  updatedAt: timestamps('updated_at').notNull().defaultNow(),
});

/**
 * One row per job that only one worker at a time may do (the pruner, the reconciler): who
 * holds it and until when. Taken and renewed by one conditional upsert, released by its
 * holder; a holder that dies simply lets it expire (README, "Retention").
 */
export const leases = pgTable('leases', {
  name: text('name').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: timestamps('expires_at').notNull(),
  acquiredAt: timestamps('acquired_at').notNull().defaultNow(),
});

/**
 * Recurring schedules (README "Schedules"): a cron expression in a time zone and a task
 * template, fired as its owner (`created_by`) would submit it. `next_run_at` is the earliest
 * due time not fired yet, null while paused; `revision` counts the owner's edits, so that a
 * firing prepared from an older revision is dropped.
 */
export const schedules = pgTable(
  'schedules',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull(),
    /** The task template as it was sent (a submission without delayMs and runAt). */
    task: jsonb('task').notNull(),
    missedRuns: text('missed_runs').notNull(),
    overlap: text('overlap').notNull(),
    pausedAt: timestamps('paused_at'),
    /** Why the firer paused it (its owner deleted, the type no longer allowed); null otherwise. */
    pausedReason: text('paused_reason'),
    nextRunAt: timestamps('next_run_at'),
    lastRunAt: timestamps('last_run_at'),
    lastTaskId: uuid('last_task_id'),
    revision: integer('revision').notNull().default(1),
    createdBy: text('created_by').notNull(),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    updatedAt: timestamps('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('schedules_owner_name_key').on(t.createdBy, t.name),
    index('schedules_created_by_id_idx').on(t.createdBy, t.id),
    // What every firer looks at on every tick: active schedules by due time.
    index('schedules_due_idx')
      .on(t.nextRunAt)
      .where(sql`${t.pausedAt} is null`),
    check('schedules_missed_runs_check', sql`${t.missedRuns} in ('skip','runOnce')`),
    check('schedules_overlap_check', sql`${t.overlap} in ('allow','skip')`),
  ],
);

/**
 * One row per (schedule, due time) fired: the primary key is what makes each due time fire
 * exactly once across any number of workers, inserted in the transaction that inserts its
 * task. Kept a day (the firer deletes older rows of the schedule it fires).
 */
export const scheduleFirings = pgTable(
  'schedule_firings',
  {
    scheduleId: uuid('schedule_id')
      .notNull()
      .references(() => schedules.id, { onDelete: 'cascade' }),
    dueAt: timestamps('due_at').notNull(),
    taskId: uuid('task_id').notNull(),
    firedAt: timestamps('fired_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scheduleId, t.dueAt] })],
);

/**
 * The life of every schedule firer (one per worker start): from its first check to the last
 * it was seen. A due time no firer's life covers was missed — no worker was running — which
 * `missedRuns` decides about; one a live firer reaches late is fired all the same.
 */
export const scheduleFirers = pgTable('schedule_firers', {
  id: uuid('id').primaryKey(),
  workerId: text('worker_id').notNull(),
  startedAt: timestamps('started_at').notNull().defaultNow(),
  seenAt: timestamps('seen_at').notNull().defaultNow(),
});

/**
 * Web console sessions (README, "Web console"). `id` is the SHA-256 (hex) of the random
 * session id the cookie holds: a leaked table opens no session. `token_hash` is the hash of
 * the API token the user signed in with: a session lasts only as long as that token is the
 * user's (a rotation or a deletion ends it), checked on every request as the API checks a
 * token. `csrf_token` is the per-session secret every change must carry.
 */
export const uiSessions = pgTable(
  'ui_sessions',
  {
    id: text('id').primaryKey(),
    userId: uuid('user_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    csrfToken: text('csrf_token').notNull(),
    createdAt: timestamps('created_at').notNull().defaultNow(),
    lastSeenAt: timestamps('last_seen_at').notNull().defaultNow(),
  },
  (t) => [
    index('ui_sessions_user_idx').on(t.userId),
    // Expired sessions are deleted oldest first, through this index.
    index('ui_sessions_last_seen_idx').on(t.lastSeenAt),
  ],
);
