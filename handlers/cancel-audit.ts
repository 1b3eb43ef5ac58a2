import type { Context } from 'hono';
import type { TaskRecord } from '../lib/tasks/task';
import type { AppEnv } from './context';

/**
 * Records in the audit log a cancellation by someone other than the task's owner (ops or
 * admin acting on another's work). The cancellation itself is already committed, so a
 * failure here is logged rather than turned into an error answer for a request that worked.
 */
export async function auditCancelByOther(
  c: Context<AppEnv>,
  task: TaskRecord,
  outcome: 'cancelled' | 'stopping',
): Promise<void> {
  const actor = c.get('principal');
  if (actor.id === task.createdBy) return;
  try {
    await c.get('services').audit.record({
      actor,
      action: 'task.cancel',
      target: task.id,
      requestId: c.get('requestId'),
      data: { owner: task.createdBy, type: task.type, queue: task.queue, outcome },
    });
  } catch (err) {
    c.get('logger').error({ err, taskId: task.id }, 'could not record the cancellation in the audit log');
  }
}
