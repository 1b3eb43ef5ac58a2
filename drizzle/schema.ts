import { sql } from 'drizzle-orm';
import {
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const timestamps = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

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
  },
  (t) => [
    uniqueIndex('tasks_idempotency_key')
      .on(t.createdBy, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('tasks_created_by_id_idx').on(t.createdBy, t.id),
    index('tasks_status_id_idx').on(t.status, t.id),
    // The reconciler pages through unfinished tasks by id; finished ones never enter this index.
    index('tasks_active_id_idx')
      .on(t.id)
      .where(sql`${t.status} in ('scheduled','queued','running','retrying')`),
    check(
      'tasks_status_check',
      sql`${t.status} in ('scheduled','queued','running','retrying','succeeded','dead','cancelled','discarded')`,
    ),
    check('tasks_priority_check', sql`${t.priority} in ('high','normal','low')`),
  ],
);

/** Append-only history of every transition; `run` counts replays so each run ends once. */
export const taskEvents = pgTable(
  'task_events',
  {
    id: uuid('id').primaryKey(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    run: integer('run').notNull().default(0),
    at: timestamps('at').notNull().defaultNow(),
    kind: text('kind').notNull(),
    attempt: integer('attempt').notNull().default(0),
    workerId: text('worker_id'),
    message: text('message'),
    data: jsonb('data'),
  },
  (t) => [
    index('task_events_task_id_idx').on(t.taskId, t.id),
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
  },
  (t) => [index('audit_log_actor_idx').on(t.actorId, t.id)],
);
