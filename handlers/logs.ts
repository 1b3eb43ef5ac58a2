import type { Context } from 'hono';
import { seesAllTasks } from '../lib/auth/roles';
import { NotFoundError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { LogFeed } from '../lib/logs/log-feed';
import type { LogStore } from '../lib/logs/log-store';
import type { TaskStore } from '../lib/tasks/task-store';
import type { Api } from './api';
import type { AppEnv } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { TAIL_HEADERS, tailBody } from './log-stream';
import { routes } from './routes';

export interface LogRouteDeps {
  tasks: TaskStore;
  logs: LogStore;
  /** The process's live tail, shared with every other reader of it. */
  feed: LogFeed;
}

/**
 * /v1/logs and its live tail /v1/logs/stream: task events and audit entries. ops and admin
 * see everything; a dev sees the events of its own tasks and no audit entries (the audit log
 * is the operators').
 */
export function logRoutes(app: Api, d: LogRouteDeps): void {
  /** The owner a dev's view is limited to; another user's taskId is "not found", as on /v1/tasks/:id/events. */
  const scope = async (c: Context<AppEnv>, taskId: string | undefined) => {
    const principal = c.get('principal');
    const ownerId = seesAllTasks(principal) ? undefined : principal.id;
    if (taskId !== undefined) {
      const task = isUuid(taskId) ? await d.tasks.get(taskId, ownerId) : null;
      if (!task) throw new NotFoundError(`No task ${JSON.stringify(taskId)}.`);
    }
    return ownerId;
  };

  app.openapi(routes.listLogs.route, async (c) => {
    const q = c.req.valid('query');
    const ownerId = await scope(c, q.taskId);
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

  app.openapi(routes.streamLogs.route, async (c) => {
    const q = c.req.valid('query');
    const lastEventId = c.req.valid('header')['last-event-id'];
    const ownerId = await scope(c, q.taskId);
    // HEAD runs this handler and drops the body unread: opening a tail would leak it.
    if (c.req.method === 'HEAD') return c.body(null, 200, TAIL_HEADERS);
    const tail = await d.feed.open(
      { ownerId, taskId: q.taskId, kind: q.kind, q: q.q },
      { userId: c.get('principal').id, lastEventId },
    );
    return c.body(tailBody(tail, d.feed.options.keepAliveMs), 200, TAIL_HEADERS);
  });
}
