import type { Actor, AuditStore } from '../audit/audit-store';
import { ConflictError } from '../errors';
import type { Logger } from '../logger';
import type { TaskEvents } from '../observability/task-events';
import type { QueueBackend } from '../queue/queue-backend';
import type { DeadLetterStore, ReplayFilter } from './dead-letter-store';
import type { DependentRelease } from './dependent-release';
import { enqueueStoredTasks } from './enqueue-tasks';
import { TERMINAL_STATUSES } from './task';
import type { TaskRecord } from './task';
import type { TaskStore } from './task-store';

export interface TaskCommandsDeps {
  tasks: TaskStore;
  deadLetters: DeadLetterStore;
  audit: AuditStore;
  queue: QueueBackend;
  events: TaskEvents;
  logger: Logger;
  /** Announces the tasks a cancellation cancelled with it (README "Dependencies"). */
  dependents: Pick<DependentRelease, 'afterEnd'>;
}

/** What a cancellation did: ended the task, or asked the worker running it to stop. */
export type CancelOutcome = { kind: 'cancelled'; task: TaskRecord } | { kind: 'stopping'; task: TaskRecord };

/**
 * What operators and submitters do to existing tasks: cancel, replay, discard. Each command
 * commits its change in the database first (the record, with its events and audit entry) and
 * only then tells the queue. A queue that cannot be told is logged, never turned into an
 * error for a change that is done: the database already says what happens next, and the
 * workers (claim checks, heartbeat, reconciler) act on what it says.
 */
export class TaskCommands {
  constructor(private readonly d: TaskCommandsDeps) {}

  /** Cancels a task the actor may see. 409 when it has already ended. */
  async cancel(actor: Actor, task: TaskRecord): Promise<CancelOutcome> {
    if (TERMINAL_STATUSES.has(task.status)) {
      throw new ConflictError(`The task has already ended (${task.status}).`);
    }
    const done = await this.d.tasks.cancel(task.id, actor.principal.id);
    if (!done) {
      const now = await this.d.tasks.get(task.id);
      throw new ConflictError(`The task has already ended (${now?.status ?? 'unknown'}).`);
    }
    if (!done.stopping) {
      const cancelled = done.task;
      await this.tellQueue('forget a cancelled task', [cancelled.id], () =>
        this.d.queue.forget(cancelled.id, cancelled.queue, cancelled.enqueueSeq),
      );
      this.d.events.emit('finished', { task: cancelled });
      await this.d.dependents.afterEnd([cancelled]);
      await this.auditCancelByOther(actor, task, 'cancelled');
      return { kind: 'cancelled', task: cancelled };
    }
    // Every worker hears this; the one running the task aborts it. The request is in the
    // database, so a missed broadcast only delays the stop until that worker's heartbeat, and
    // the attempt's outcome write ends the task cancelled if it gets there first.
    await this.tellQueue('broadcast a cancellation', [task.id], () => this.d.queue.publishCancel(task.id));
    await this.auditCancelByOther(actor, task, 'stopping');
    return { kind: 'stopping', task: done.task };
  }

  /**
   * Cancels each task as `cancel` does (the console's bulk cancel, one chunk of it), and
   * records one `task.cancel_bulk` audit entry for the chunk naming how many it ended or asked
   * to stop. A task that ended meanwhile is counted as `ended`, not an error.
   */
  async cancelMany(
    actor: Actor,
    tasks: readonly TaskRecord[],
    describe: Record<string, unknown> = {},
  ): Promise<{ cancelled: number; stopping: number; ended: number }> {
    const counts = { cancelled: 0, stopping: 0, ended: 0 };
    for (const task of tasks) {
      try {
        const outcome = await this.cancel(actor, task);
        counts[outcome.kind]++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        counts.ended++;
      }
    }
    if (counts.cancelled + counts.stopping > 0) {
      await this.d.audit.record({
        actor: actor.principal,
        action: 'task.cancel_bulk',
        target: `${counts.cancelled + counts.stopping} tasks`,
        requestId: actor.requestId,
        data: { ...describe, ...counts },
      });
    }
    return counts;
  }

  /** Replays one dead task (attempts reset, back to `queued`). Null when it is not dead. */
  async replay(actor: Actor, id: string): Promise<TaskRecord | null> {
    const task = await this.d.deadLetters.replay(id, actor);
    if (task) await this.requeue([task]);
    return task;
  }

  /** Replays the dead tasks a filter names (at most MAX_BULK_REPLAY per call). */
  async replayMatching(actor: Actor, filter: ReplayFilter): Promise<TaskRecord[]> {
    const tasks = await this.d.deadLetters.replayMatching(filter, actor);
    await this.requeue(tasks);
    return tasks;
  }

  /** Discards a dead task for good. Null when it is not dead. */
  async discard(actor: Actor, id: string): Promise<TaskRecord | null> {
    const task = await this.d.deadLetters.discard(id, actor);
    if (task) {
      await this.tellQueue('forget a discarded task', [task.id], () =>
        this.d.queue.forget(task.id, task.queue, task.enqueueSeq),
      );
      await this.removeDeadLetters([task]);
    }
    return task;
  }

  /** Replayed tasks leave the dead-letter stream and go back on their queue. */
  private async requeue(tasks: readonly TaskRecord[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.removeDeadLetters(tasks);
    await enqueueStoredTasks(this.d.queue, tasks, this.d.logger);
  }

  /** A record left behind (queue down) is only a stale entry for operators; the pruner deletes it with its task. */
  private async removeDeadLetters(tasks: readonly TaskRecord[]): Promise<void> {
    await this.tellQueue(
      'delete dead-letter records',
      tasks.map((t) => t.id),
      () => this.d.queue.removeDeadLetters(tasks.map((t) => ({ taskId: t.id, queue: t.queue }))),
    );
  }

  /** Runs a queue update that follows a committed change; a failure is logged, not thrown. */
  private async tellQueue(what: string, taskIds: string[], update: () => Promise<void>): Promise<void> {
    try {
      await update();
    } catch (err) {
      this.d.logger.warn(
        { err, tasks: taskIds },
        `could not ${what} in the queue; the database has the change and the workers act on it`,
      );
    }
  }

  /**
   * Records a cancellation by someone other than the task's owner (ops or admin acting on
   * another's work). The cancellation is already committed, so a failure here is logged
   * rather than turned into an error answer for a request that worked.
   */
  private async auditCancelByOther(actor: Actor, task: TaskRecord, outcome: 'cancelled' | 'stopping') {
    if (actor.principal.id === task.createdBy) return;
    try {
      await this.d.audit.record({
        actor: actor.principal,
        action: 'task.cancel',
        target: task.id,
        requestId: actor.requestId,
        data: { owner: task.createdBy, type: task.type, queue: task.queue, outcome },
      });
    } catch (err) {
      this.d.logger.error({ err, taskId: task.id }, 'could not record the cancellation in the audit log');
    }
  }
}
