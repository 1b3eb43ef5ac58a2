import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Database, Db } from '../db/client';
import { Coalescer } from '../batch/coalescer';
import { isTransientDbError } from '../db/transient-errors';
import { firstIdAt, newId } from '../ids';
import { ID_TIME_SLACK_MS } from '../logs/log-query';
import type { Priority, TaskEventView, TaskRecord, TaskStatus } from './task';
import type { DependencyRef } from './dependency-refs';
import { eventInserts } from './event-sql';
import { eventFromRow, taskFromRow, toDate, toDateOrNull } from './task-row';

/** A validated submission, ready to be written. */
export interface NewTask {
  id: string;
  type: string;
  queue: string;
  priority: Priority;
  concurrencyKey: string | null;
  payload: unknown;
  maxAttempts: number;
  timeoutMs: number;
  /** Absolute not-before time, or null. Exclusive with delayMs. */
  runAt: Date | null;
  /** Delay from now by the database's clock, or 0. */
  delayMs: number;
  callbackUrl: string | null;
  metadata: Record<string, unknown>;
  createdBy: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  /** The request that submitted it, kept in its `submitted` event. */
  requestId?: string | null;
  /** Its trace (README "Tracing"): the submission's, and the span attempts hang under. */
  traceId: string;
  parentSpanId: string | null;
  traceFlags: number;
  /** The schedule that fired it (README "Schedules"); absent for a client's submission. */
  scheduleId?: string | null;
  /** What it waits for ([]: nothing); such tasks are stored by DependencyStore. */
  dependsOn: readonly DependencyRef[];
}

/** A submission as validation completes it; the trace is added by whoever started the span. */
export type ValidTask = Omit<NewTask, 'traceId' | 'parentSpanId' | 'traceFlags'>;

export interface ListFilter {
  /** Only this submitter's tasks (a dev sees its own). */
  createdBy?: string;
  status?: TaskStatus;
  /** Any of these statuses (with `status`, both must hold). */
  statuses?: readonly TaskStatus[];
  type?: string;
  queue?: string;
  /** Submitted at or after this time. */
  since?: Date;
  /** Submitted before this time. */
  until?: Date;
  /** Return tasks with ids below this one (newest first). */
  before?: string;
  limit: number;
}

/** The most a count of matching tasks goes to: past it, "more than" is all a person needs. */
export const COUNT_CAP = 10_000;

/**
 * The insert of tasks and their `submitted` events, $1 the input rows. Fixed texts, run as
 * prepared statements: every submission takes the plain one, whose text is what it was
 * before schedules and dependencies. `scheduled` also writes `schedule_id` (a schedule's
 * firings); `dependencies` also stores what a task waits for (DependencyStore), and a task
 * with a `depends_on` starts `waiting`.
 */
export function insertTasksSql(extra: { scheduled?: boolean; dependencies?: boolean } = {}): string {
  const s = extra.scheduled === true;
  const d = extra.dependencies === true;
  const columns = `${s ? ', schedule_id uuid' : ''}${d ? ', depends_on uuid[], unmet_dependencies int, has_children boolean' : ''}`;
  const targets = `${s ? ', schedule_id' : ''}${d ? ', depends_on, unmet_dependencies, has_children' : ''}`;
  const values = `${s ? ', schedule_id' : ''}${d ? ', depends_on, unmet_dependencies, COALESCE(has_children, false)' : ''}`;
  const waiting = d ? "WHEN depends_on IS NOT NULL THEN 'waiting' " : '';
  return `
  WITH input AS (
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
      id uuid, event_id uuid, type text, queue text, priority text, concurrency_key text, payload jsonb, max_attempts int,
      timeout_ms int, run_at timestamptz, delay_ms bigint, callback_url text, metadata jsonb,
      created_by text, idempotency_key text, request_hash text, request_id text, trace_id text,
      parent_span_id text, trace_flags smallint${columns})
  ), prepared AS (
    SELECT *, COALESCE(run_at, CASE WHEN delay_ms > 0 THEN now() + delay_ms * interval '1 millisecond' END) AS due
    FROM input
  ), ins AS (
    INSERT INTO tasks (id, type, queue, priority, concurrency_key, status, payload, max_attempts, timeout_ms, run_at,
                       callback_url, metadata, created_by, idempotency_key, request_hash, trace_id,
                       parent_span_id, trace_flags${targets})
    SELECT id, type, queue, priority, concurrency_key,
           CASE ${waiting}WHEN due > now() THEN 'scheduled' ELSE 'queued' END, payload,
           max_attempts, timeout_ms, due, callback_url, metadata, created_by, idempotency_key, request_hash,
           trace_id, parent_span_id, trace_flags${values}
    FROM prepared
    ON CONFLICT (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, status, run_at, created_at, enqueue_seq
  ), ev AS (
    INSERT INTO task_events (id, task_id, kind, attempt, data)
    SELECT p.event_id, ins.id, 'submitted', 0,
           jsonb_build_object('status', ins.status, 'requestId', p.request_id, 'runAt', ins.run_at)
    FROM ins JOIN prepared p ON p.id = ins.id
  )
  SELECT id, status, run_at, created_at, enqueue_seq FROM ins`;
}

const INSERT_SQL = insertTasksSql();
const SCHEDULED_INSERT_SQL = insertTasksSql({ scheduled: true });

/** A task's input row for insertTasksSql (its dependency columns are added by DependencyStore). */
export function insertRow(t: NewTask): Record<string, unknown> {
  return {
    request_id: t.requestId ?? null,
    id: t.id,
    event_id: newId(),
    type: t.type,
    queue: t.queue,
    priority: t.priority,
    concurrency_key: t.concurrencyKey,
    payload: t.payload,
    max_attempts: t.maxAttempts,
    timeout_ms: t.timeoutMs,
    run_at: t.runAt ? t.runAt.toISOString() : null,
    delay_ms: t.delayMs,
    callback_url: t.callbackUrl,
    metadata: t.metadata,
    created_by: t.createdBy,
    idempotency_key: t.idempotencyKey,
    request_hash: t.requestHash,
    trace_id: t.traceId,
    parent_span_id: t.parentSpanId,
    trace_flags: t.traceFlags,
    // Only when set: a submission's input (the hot path) is not one key longer.
    ...(t.scheduleId ? { schedule_id: t.scheduleId } : {}),
  };
}

/**
 * A task just inserted: as submitted, with what the database decided. `dependsOn` holds its
 * parents' ids (resolved by DependencyStore; [] for the others).
 */
export function insertedTask(
  t: NewTask,
  r: Record<string, unknown>,
  dependencies: { dependsOn: string[]; hasChildren: boolean } = { dependsOn: [], hasChildren: false },
): TaskRecord {
  const createdAt = toDate(r.created_at);
  return {
    id: t.id,
    type: t.type,
    queue: t.queue,
    priority: t.priority,
    concurrencyKey: t.concurrencyKey,
    status: r.status as TaskStatus,
    payload: t.payload,
    result: null,
    lastError: null,
    attempts: 0,
    maxAttempts: t.maxAttempts,
    timeoutMs: t.timeoutMs,
    runAt: toDateOrNull(r.run_at),
    callbackUrl: t.callbackUrl,
    metadata: t.metadata,
    createdBy: t.createdBy,
    idempotencyKey: t.idempotencyKey,
    requestHash: t.requestHash,
    enqueueSeq: Number(r.enqueue_seq),
    leaseEpoch: 0,
    leaseOwner: null,
    leaseExpiresAt: null,
    cancelRequestedAt: null,
    replays: 0,
    createdAt,
    startedAt: null,
    finishedAt: null,
    updatedAt: createdAt,
    traceId: t.traceId,
    parentSpanId: t.parentSpanId,
    traceFlags: t.traceFlags,
    scheduleId: t.scheduleId ?? null,
    ...dependencies,
  };
}

/** Where a statement runs: the database, or a transaction of it (both answer `{rows}`). */
export type Executor = Pick<Db, 'execute'>;

/** INSERT_SQL's one parameter: the tasks as a JSON array of their input rows. */
function insertInput(tasks: readonly NewTask[]): string {
  return JSON.stringify(tasks.map(insertRow));
}

/**
 * The inserted tasks, in submission order (RETURNING does not promise one). Only what the
 * database decided comes back (status, due time, creation time): the rest is what was sent.
 * Echoing each payload back and parsing it again cost more than the insert.
 */
function insertedInOrder(tasks: readonly NewTask[], rows: Record<string, unknown>[]): TaskRecord[] {
  const byId = new Map(rows.map((r) => [String(r.id), r]));
  const out: TaskRecord[] = [];
  for (const t of tasks) {
    const r = byId.get(t.id);
    if (r) out.push(insertedTask(t, r));
  }
  return out;
}

/** The statement behind a page of tasks, newest first: `limit + 1` rows, to know whether there is more. */
export function taskListQuery(filter: ListFilter): SQL {
  return sql`SELECT * FROM tasks ${whereClause(filter)} ORDER BY id DESC LIMIT ${filter.limit + 1}`;
}

/**
 * The conditions of a filter. A time range is also an id range (UUIDv7 ids start with their
 * Unix milliseconds; the API makes a task's id as it stores it), widened by ID_TIME_SLACK_MS
 * for the clock difference between an API host and the database, so that the primary key
 * serves it; the `created_at` conditions keep the answer exact.
 */
function whereClause(filter: Omit<ListFilter, 'limit'>): SQL {
  const where: SQL[] = [];
  if (filter.createdBy !== undefined) where.push(sql`created_by = ${filter.createdBy}`);
  if (filter.status) where.push(sql`status = ${filter.status}`);
  if (filter.statuses) {
    where.push(
      filter.statuses.length === 0
        ? sql`false`
        : sql`status IN (${sql.join(
            filter.statuses.map((st) => sql`${st}`),
            sql`, `,
          )})`,
    );
  }
  if (filter.type) where.push(sql`type = ${filter.type}`);
  if (filter.queue) where.push(sql`queue = ${filter.queue}`);
  if (filter.since) {
    where.push(sql`id >= ${firstIdAt(filter.since.getTime() - ID_TIME_SLACK_MS)}::uuid`);
    where.push(sql`created_at >= ${filter.since.toISOString()}::timestamptz`);
  }
  if (filter.until) {
    where.push(sql`id < ${firstIdAt(filter.until.getTime() + ID_TIME_SLACK_MS)}::uuid`);
    where.push(sql`created_at < ${filter.until.toISOString()}::timestamptz`);
  }
  if (filter.before) where.push(sql`id < ${filter.before}::uuid`);
  return where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``;
}

/** Reads and writes of task rows made by the API (the worker's live in attempt-store.ts). */
export class TaskStore {
  /**
   * `listTimeoutMs`: the database stops a list read that takes longer (QueryTimeoutError).
   * `reads`: where lists and counts are read, which may lag the primary (DATABASE_READ_URL).
   */
  constructor(
    private readonly database: Database,
    private readonly limits: { listTimeoutMs: number },
    private readonly reads: Database = database,
  ) {}

  /**
   * Inserts tasks and their `submitted` events in one statement. A task whose idempotency key
   * its submitter already used is not inserted and not returned.
   */
  async insert(tasks: readonly NewTask[]): Promise<TaskRecord[]> {
    if (tasks.length === 0) return [];
    if (tasks.some((t) => t.dependsOn.length > 0))
      throw new Error('tasks with dependsOn go through DependencyStore');
    const rows = await this.database.prepared('procurator_insert_tasks', INSERT_SQL, [insertInput(tasks)]);
    return insertedInOrder(tasks, rows);
  }

  /**
   * The same insert, with `scheduleId`, run in the caller's transaction (a schedule's firing
   * commits its task with the row that decides it). Not prepared: it is not on the
   * submission path.
   */
  async insertWithin(tx: Executor, tasks: readonly NewTask[]): Promise<TaskRecord[]> {
    if (tasks.length === 0) return [];
    const [head, tail] = SCHEDULED_INSERT_SQL.split('$1') as [string, string];
    const result: unknown = await tx.execute(sql`${sql.raw(head)}${insertInput(tasks)}${sql.raw(tail)}`);
    return insertedInOrder(tasks, (result as { rows: Record<string, unknown>[] }).rows);
  }

  async findByIdempotencyKey(createdBy: string, key: string): Promise<TaskRecord | null> {
    const rows = await this.database.rows(
      sql`SELECT * FROM tasks WHERE created_by = ${createdBy} AND idempotency_key = ${key}`,
    );
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  /**
   * Makes an Idempotency-Key first used more than `ttlMs` ago (by the database's clock) free
   * again: its task keeps everything but the key. False when the key is younger, or gone.
   */
  async releaseExpiredIdempotencyKey(createdBy: string, key: string, ttlMs: number): Promise<boolean> {
    const rows = await this.database.rows(sql`
      UPDATE tasks SET idempotency_key = NULL, request_hash = NULL
      WHERE created_by = ${createdBy} AND idempotency_key = ${key}
        AND created_at < now() - ${ttlMs} * interval '1 millisecond'
      RETURNING id`);
    return rows.length > 0;
  }

  /**
   * Inserts one task, written together with other single submissions made at the same time
   * (one statement and one commit for many concurrent POSTs). Undefined when its idempotency
   * key was already used.
   */
  insertOne(task: NewTask): Promise<TaskRecord | undefined> {
    return this.inserter.submit(task);
  }

  private readonly inserter = new Coalescer<NewTask, TaskRecord | undefined>(
    async (tasks) => {
      const rows = await this.insert(tasks);
      const byId = new Map(rows.map((r) => [r.id, r]));
      return tasks.map((t) => byId.get(t.id));
    },
    { maxBatch: 500, maxConcurrent: 4, isolateOnError: (err) => !isTransientDbError(err) },
  );

  /** A task by id; with `createdBy`, only if that user submitted it. */
  async get(id: string, createdBy?: string): Promise<TaskRecord | null> {
    const owner = createdBy === undefined ? sql`` : sql` AND created_by = ${createdBy}`;
    const rows = await this.database.rows(sql`SELECT * FROM tasks WHERE id = ${id}::uuid${owner}`);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  /**
   * Tasks newest first, one page. A rare type or queue is found by walking ids, which the
   * time limit bounds.
   */
  async list(filter: ListFilter): Promise<{ items: TaskRecord[]; more: boolean }> {
    const rows = await this.reads.rowsWithin(taskListQuery(filter), this.limits.listTimeoutMs);
    return { items: rows.slice(0, filter.limit).map(taskFromRow), more: rows.length > filter.limit };
  }

  /**
   * How many tasks match, counted up to COUNT_CAP (`capped`: at least that many), within the
   * list time limit (from `reads`: it may lag).
   */
  async count(filter: Omit<ListFilter, 'limit' | 'before'>): Promise<{ n: number; capped: boolean }> {
    const rows = await this.reads.rowsWithin<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM tasks ${whereClause(filter)} LIMIT ${COUNT_CAP}) capped`,
      this.limits.listTimeoutMs,
    );
    const n = rows[0]?.n ?? 0;
    return { n, capped: n >= COUNT_CAP };
  }

  /** A task's events, oldest first. */
  async events(taskId: string): Promise<TaskEventView[]> {
    const rows = await this.database.rows(
      sql`SELECT * FROM task_events WHERE task_id = ${taskId}::uuid ORDER BY id`,
    );
    return rows.map(eventFromRow);
  }

  /**
   * Cancels a task in one statement, whatever it is doing at that moment: one that waits
   * (waiting, scheduled, queued, retrying) ends `cancelled` now and never starts (the tasks
   * waiting for it are cancelled with it, by the database's trigger); one that runs gets a
   * cancel request, which its worker's outcome write and heartbeat both honour. Null when the
   * task has already ended (or does not exist). One statement, so that a task changing state
   * between a first and a second look (running → retrying) is never missed.
   */
  async cancel(id: string, actor: string): Promise<{ task: TaskRecord; stopping: boolean } | null> {
    const rows = await this.database.rows(sql`
      WITH c AS (
        UPDATE tasks SET
          status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END,
          finished_at = CASE WHEN status = 'running' THEN finished_at ELSE now() END,
          cancel_requested_at = CASE WHEN status = 'running' THEN COALESCE(cancel_requested_at, now())
                                     ELSE cancel_requested_at END,
          updated_at = now()
        WHERE id = ${id}::uuid AND status IN ('waiting', 'scheduled', 'queued', 'retrying', 'running')
        RETURNING *
      )${eventInserts('c', null, [
        {
          kind: 'cancelled',
          message: 'cancelled before it started',
          data: { by: actor },
          when: sql`c.status = 'cancelled'`,
        },
      ])}
      SELECT * FROM c`);
    if (!rows[0]) return null;
    const task = taskFromRow(rows[0]);
    return { task, stopping: task.status === 'running' };
  }

  /** Counts of tasks per status and queue, for operators (from `reads`: they may lag). */
  async countByQueueAndStatus(
    statuses: readonly TaskStatus[],
  ): Promise<{ queue: string; status: string; n: number }[]> {
    return this.reads.rows<{ queue: string; status: string; n: number }>(sql`
      SELECT queue, status, count(*)::int AS n FROM tasks
      WHERE status IN (${sql.join(
        statuses.map((s) => sql`${s}`),
        sql`, `,
      )})
      GROUP BY queue, status`);
  }
}
