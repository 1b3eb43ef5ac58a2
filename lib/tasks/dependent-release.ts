import { NO_FAIL_POINTS } from '../failpoints';
import type { FailPoints } from '../failpoints';
import type { Logger } from '../logger';
import type { TaskEvents } from '../observability/task-events';
import type { QueueBackend } from '../queue/queue-backend';
import type { DependencyStore } from './dependency-store';
import { enqueueStoredTasks } from './enqueue-tasks';
import type { TaskSummary } from './task';

export interface DependentReleaseDeps {
  store: Pick<DependencyStore, 'settledBy'>;
  queue: QueueBackend;
  events: TaskEvents;
  logger: Logger;
  failpoints?: FailPoints;
}

/**
 * What follows the commit of a task's end when tasks depend on it (README "Dependencies"):
 * the ones its end released go on their queue, the ones it cancelled are announced as
 * finished. Both were decided in the end's own transaction; this only tells the queue and the
 * listeners. If it cannot (the process dies first, the queue or the database is unreachable)
 * a released task is still `queued` in the database and the reconciler enqueues it, so
 * failures here are logged, never thrown. Tasks nothing depends on skip it entirely.
 */
export class DependentRelease {
  private readonly failpoints: FailPoints;

  constructor(private readonly d: DependentReleaseDeps) {
    this.failpoints = d.failpoints ?? NO_FAIL_POINTS;
  }

  async afterEnd(ended: readonly TaskSummary[]): Promise<void> {
    const parents = ended.filter((t) => t.hasChildren).map((t) => t.id);
    if (parents.length === 0) return;
    const held = this.failpoints.hit('worker.before-release', { taskId: parents[0] });
    if (held) await held;
    try {
      const settled = await this.d.store.settledBy(parents);
      const released = settled.filter((t) => t.status === 'queued' || t.status === 'scheduled');
      await enqueueStoredTasks(this.d.queue, released, this.d.logger);
      for (const task of settled) if (task.status === 'cancelled') this.d.events.emit('finished', { task });
    } catch (err) {
      this.d.logger.warn(
        { err, parents },
        'could not look up the tasks an end released; the reconciler will enqueue them',
      );
    }
  }
}
