import { hasRole, seesAllTasks } from '../auth/roles';
import type { Principal } from '../auth/roles';
import type { TaskCatalog } from '../catalog/task-catalog';
import type { FieldProblem } from '../errors';
import { ForbiddenError, ValidationError } from '../errors';
import { NO_FAIL_POINTS } from '../failpoints';
import type { FailPoints } from '../failpoints';
import type { Logger } from '../logger';
import type { TaskEvents } from '../observability/task-events';
import type { QueueBackend } from '../queue/queue-backend';
import type { QueueRegistry } from '../queue/queue-registry';
import type { DependencyStore } from './dependency-store';
import { enqueueStoredTasks } from './enqueue-tasks';
import type { SubmissionDefaults } from './submission';
import { completeSubmission, requestHash } from './submission';
import type { AcceptedSubmission } from './submission';
import type { TaskRecord } from './task';
import type { NewTask, TaskStore } from './task-store';
import { newTaskTrace } from './task-trace';
import type { TaskTrace } from './task-trace';

export const MAX_BATCH = 1000;

/**
 * Tasks whose enqueue may still be running after their answer, at most. Past it (Redis slow or
 * away, ioredis holding commands until it reconnects) a submission waits for its own enqueue
 * before answering, as every submission did before: memory stays bounded and the API slows
 * down with its queue instead of piling up work.
 */
export const MAX_ENQUEUING_TASKS = 5_000;

/** What the request adds to a submission: who sent it, and in which trace. */
export interface SubmitContext {
  requestId: string | null;
  /** The request's trace; a new one when the request had none (a caller outside HTTP). */
  trace?: TaskTrace;
}

/**
 * Accepting tasks: validate, write to the database (the 202 promise: the row exists before
 * the answer), then enqueue — beside the answer, not before it: the commit is the promise, and
 * an enqueue that fails after it is logged and left to the reconciler (the task is durable and
 * will run once the queue is back), so waiting for it would only add a Redis round trip to
 * every submission. At most MAX_ENQUEUING_TASKS are enqueued beside their answers at once.
 */
export interface SubmitServiceDeps {
  store: TaskStore;
  /** Stores tasks with a `dependsOn` (the others take the store's batched insert). */
  dependencies: DependencyStore;
  queue: QueueBackend;
  catalog: TaskCatalog;
  /** Queue names and MAX_QUEUES. */
  queues: QueueRegistry;
  defaults: SubmissionDefaults;
  /** How long an Idempotency-Key is remembered; after that the same key makes a new task. */
  idempotencyTtlMs: number;
  events: TaskEvents;
  logger: Logger;
  failpoints?: FailPoints;
}

export class SubmitService {
  private readonly store: TaskStore;
  private readonly dependencies: DependencyStore;
  private readonly queue: QueueBackend;
  private readonly catalog: TaskCatalog;
  private readonly queues: QueueRegistry;
  private readonly defaults: SubmissionDefaults;
  private readonly idempotencyTtlMs: number;
  private readonly events: TaskEvents;
  private readonly logger: Logger;
  private readonly failpoints: FailPoints;
  /** The enqueues still running after their submissions were answered. */
  private readonly enqueuing = new Set<Promise<void>>();
  private enqueuingTasks = 0;

  constructor(d: SubmitServiceDeps) {
    this.store = d.store;
    this.dependencies = d.dependencies;
    this.queue = d.queue;
    this.catalog = d.catalog;
    this.queues = d.queues;
    this.defaults = d.defaults;
    this.idempotencyTtlMs = d.idempotencyTtlMs;
    this.events = d.events;
    this.logger = d.logger;
    this.failpoints = d.failpoints ?? NO_FAIL_POINTS;
  }

  /**
   * Submits one task. With an idempotency key, a repeat of the same body answers the
   * original task (`replayed`), concurrent repeats included; another body is refused.
   */
  async submitOne(
    principal: Principal,
    submission: AcceptedSubmission,
    idempotencyKey: string | null,
    context: SubmitContext,
  ): Promise<{ task: TaskRecord; replayed: boolean }> {
    this.authorize(principal, [submission]);
    const v = completeSubmission(submission, '', this.catalog, this.defaults, principal.id);
    if (!v.ok) throw new ValidationError('The task is invalid.', v.errors);
    await this.queues.ensure([{ queue: v.task.queue, path: 'queue' }]);
    const trace = context.trace ?? newTaskTrace();
    const task: NewTask = idempotencyKey
      ? { ...v.task, ...trace, idempotencyKey, requestHash: requestHash(submission.body) }
      : { ...v.task, ...trace };
    // The key was used before (or is being used right now: the insert waited for that
    // transaction to commit before reporting the conflict). Used longer ago than the TTL, the
    // old task lets go of it and this request inserts again. Racing requests for an expired
    // key: one releases it; another may then find no task under it until the first one's new
    // task commits, and tries again — its insert waits for that commit and conflicts.
    for (let tries = 0; tries < 3; tries++) {
      const inserted =
        task.dependsOn.length === 0
          ? await this.store.insertOne({ ...task, requestId: context.requestId })
          : (
              await this.dependencies.insert(
                [{ ...task, requestId: context.requestId }],
                ownerScope(principal),
                (_, entry) => `dependsOn[${entry}]`,
              )
            )[0];
      if (inserted) {
        await this.enqueue([inserted]);
        return { task: inserted, replayed: false };
      }
      const key = idempotencyKey!;
      if (await this.store.releaseExpiredIdempotencyKey(principal.id, key, this.idempotencyTtlMs)) continue;
      const original = await this.store.findByIdempotencyKey(principal.id, key);
      if (!original) continue;
      if (original.requestHash !== task.requestHash) {
        throw new ValidationError('The Idempotency-Key was already used with a different request body.', [
          { path: 'Idempotency-Key', message: 'already used with a different request body' },
        ]);
      }
      return { task: original, replayed: true };
    }
    throw new Error('idempotent insert kept conflicting but no task holds the key');
  }

  /**
   * Submits 1..MAX_BATCH tasks, all or none; a refusal names every bad index. Every task of
   * the batch is in the request's trace.
   */
  async submitBatch(
    principal: Principal,
    items: readonly AcceptedSubmission[],
    context: SubmitContext,
  ): Promise<TaskRecord[]> {
    if (items.length === 0 || items.length > MAX_BATCH) {
      throw new ValidationError(`A batch holds 1 to ${MAX_BATCH} tasks.`, [
        { path: 'tasks', message: `must hold 1 to ${MAX_BATCH} tasks (got ${items.length})` },
      ]);
    }
    this.authorize(principal, items);
    const tasks: NewTask[] = [];
    const errors: FieldProblem[] = [];
    const now = Date.now();
    const trace = context.trace ?? newTaskTrace();
    items.forEach((item, i) => {
      const v = completeSubmission(item, `tasks[${i}]`, this.catalog, this.defaults, principal.id, now, i);
      if (v.ok) tasks.push({ ...v.task, ...trace });
      else errors.push(...v.errors);
    });
    if (errors.length > 0)
      throw new ValidationError('Some tasks of the batch are invalid; none was accepted.', errors);
    await this.queues.ensure(tasks.map((t, i) => ({ queue: t.queue, path: `tasks[${i}].queue` })));
    const rows = tasks.map((t) => ({ ...t, requestId: context.requestId }));
    const inserted = rows.some((t) => t.dependsOn.length > 0)
      ? await this.dependencies.insert(
          rows,
          ownerScope(principal),
          (task, entry) => `tasks[${task}].dependsOn[${entry}]`,
        )
      : await this.store.insert(rows);
    await this.enqueue(inserted);
    return inserted;
  }

  /**
   * A submission checked as `principal` would submit it — the type's role, its validation,
   * the queue limit — and made ready to insert in the caller's own transaction (a schedule's
   * firing commits its task with the row that decides it); `announce` it after the commit.
   * `whose` names the principal in a refusal ("the schedule's owner").
   */
  async prepare(
    principal: Principal,
    submission: AcceptedSubmission,
    o: { prefix: string; whose: string; now?: number },
  ): Promise<NewTask> {
    this.authorize(principal, [submission], o.whose);
    const v = completeSubmission(submission, o.prefix, this.catalog, this.defaults, principal.id, o.now);
    if (!v.ok) throw new ValidationError('The task is invalid.', v.errors);
    await this.queues.ensure([{ queue: v.task.queue, path: o.prefix ? `${o.prefix}.queue` : 'queue' }]);
    return { ...v.task, ...newTaskTrace() };
  }

  /**
   * What follows the commit of stored tasks: every task is announced; those ready to run go on
   * their queue. A task `waiting` for others is enqueued when they have succeeded; one whose
   * parent had already failed was stored `cancelled` and has ended.
   */
  async announce(tasks: readonly TaskRecord[]): Promise<void> {
    for (const task of tasks) this.events.emit('submitted', { task });
    const ready = tasks.filter((t) => t.status === 'queued' || t.status === 'scheduled');
    await enqueueStoredTasks(this.queue, ready, this.logger);
    for (const task of tasks) if (task.status === 'cancelled') this.events.emit('finished', { task });
  }

  /**
   * Refuses (403, before anything is validated or stored) a submission naming a type whose
   * least role (TASK_TYPE_ROLES, else the type's own) the caller does not have; in a batch,
   * one such item refuses the whole batch. Decided here only: the worker runs what was
   * accepted, so tasks accepted before a type became ops-only still run.
   */
  private authorize(principal: Principal, items: readonly AcceptedSubmission[], whose = 'your token'): void {
    const refused = new Map<string, string>();
    for (const { type } of items.map((i) => i.accepted)) {
      if (!this.catalog.get(type)) continue;
      const needed = this.catalog.minRole(type);
      if (!hasRole(principal.role, needed)) refused.set(type, needed);
    }
    if (refused.size === 0) return;
    const what = [...refused].map(([type, role]) => `${type} tasks need the ${role} role`).join('; ');
    throw new ForbiddenError(`${what}; ${whose} has ${principal.role}. Nothing was accepted.`);
  }

  /**
   * After the commit (and the api.after-commit fail point): announce, and return while the
   * enqueue runs, unless MAX_ENQUEUING_TASKS are already being enqueued.
   */
  private async enqueue(tasks: readonly TaskRecord[]): Promise<void> {
    const held = this.failpoints.hit('api.after-commit', { taskId: tasks[0]?.id });
    if (held) await held;
    const announced = this.announce(tasks).catch((err: unknown) =>
      this.logger.warn(
        { err, tasks: tasks.length },
        'announcing stored tasks failed; the reconciler enqueues them',
      ),
    );
    if (this.enqueuingTasks + tasks.length > MAX_ENQUEUING_TASKS) return announced;
    this.enqueuingTasks += tasks.length;
    const tracked = announced.finally(() => {
      this.enqueuingTasks -= tasks.length;
      this.enqueuing.delete(tracked);
    });
    this.enqueuing.add(tracked);
  }

  /**
   * Resolves once every enqueue running beside an answer has ended: a process that stops
   * waits for it before closing its queue (what it never gets to, the reconciler enqueues).
   */
  async settled(): Promise<void> {
    while (this.enqueuing.size > 0) await Promise.all([...this.enqueuing]);
  }
}

/** Whose tasks a submission may name in `dependsOn`: a dev only its own (undefined: any). */
function ownerScope(p: Principal): string | undefined {
  return seesAllTasks(p) ? undefined : p.id;
}
