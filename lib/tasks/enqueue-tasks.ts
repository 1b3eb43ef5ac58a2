import type { Logger } from '../logger';
import type { QueueBackend } from '../queue/queue-backend';
import type { TaskRecord } from './task';

/**
 * Puts stored tasks on their queue under their current seq. Called after the commit: if the
 * queue is unreachable the tasks are still durable, and the reconciler enqueues them later,
 * so a failure here is logged, not thrown.
 */
export async function enqueueStoredTasks(
  queue: QueueBackend,
  tasks: readonly TaskRecord[],
  logger: Logger,
): Promise<void> {
  if (tasks.length === 0) return;
  try {
    await queue.enqueue(
      tasks.map((t) => ({
        taskId: t.id,
        seq: t.enqueueSeq,
        queue: t.queue,
        priority: t.priority,
        type: t.type,
        concurrencyKey: t.concurrencyKey,
        dueAt: t.status === 'scheduled' && t.runAt ? t.runAt.getTime() : null,
      })),
    );
  } catch (err) {
    logger.warn(
      { err, tasks: tasks.length },
      'tasks are stored but could not be enqueued; the reconciler will enqueue them',
    );
  }
}
