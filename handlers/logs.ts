import { seesAllTasks } from '../lib/auth/roles';
import { NotFoundError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { LogStore } from '../lib/logs/log-store';
import type { TaskStore } from '../lib/tasks/task-store';
import type { Api } from './api';
import { decodeCursor, pageAnswer } from './cursor';
import { routes } from './routes';

/**
 * /v1/logs: task events and audit entries, newest first. ops and admin see everything; a dev
 * sees the events of its own tasks and no audit entries (the audit log is the operators').
 */
export function logRoutes(app: Api, d: { tasks: TaskStore; logs: LogStore }): void {
  app.openapi(routes.listLogs.route, async (c) => {
    const q = c.req.valid('query');
    const principal = c.get('principal');
    const ownerId = seesAllTasks(principal) ? undefined : principal.id;
    if (q.taskId !== undefined) {
      // Another user's task is "not found" here too, as on /v1/tasks/:id/events.
      const task = isUuid(q.taskId) ? await d.tasks.get(q.taskId, ownerId) : null;
      if (!task) throw new NotFoundError(`No task ${JSON.stringify(q.taskId)}.`);
    }
    const page = await d.logs.list({
      ownerId,
      taskId: q.taskId,
      kind: q.kind,
      q: q.q,
      since: q.since ? new Date(q.since) : undefined,
      until: q.until ? new Date(q.until) : undefined,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page), 200);
  });
}
