import { NotFoundError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import { MAX_BULK_REPLAY } from '../lib/tasks/dead-letter-store';
import { toTaskView } from '../lib/tasks/task';
import type { TaskCommands } from '../lib/tasks/task-commands';
import type { TaskStore } from '../lib/tasks/task-store';
import type { Api } from './api';
import { actorOf } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { routes } from './routes';

export interface DlqRoutesDeps {
  tasks: TaskStore;
  commands: TaskCommands;
}

/** /v1/dlq: dead tasks, with their payload and last error; replay and delete (ops). */
export function dlqRoutes(app: Api, d: DlqRoutesDeps): void {
  app.openapi(routes.listDeadTasks.route, async (c) => {
    const q = c.req.valid('query');
    const page = await d.tasks.list({
      status: 'dead',
      type: q.type,
      queue: q.queue,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page, toTaskView), 200);
  });

  app.openapi(routes.replayDeadTasks.route, async (c) => {
    const tasks = await d.commands.replayMatching(actorOf(c), c.req.valid('json'));
    return c.json({ replayed: tasks.length, limit: MAX_BULK_REPLAY }, 202);
  });

  app.openapi(routes.replayDeadTask.route, async (c) => {
    const { id } = c.req.valid('param');
    const task = isUuid(id) ? await d.commands.replay(actorOf(c), id) : null;
    if (!task)
      throw new NotFoundError(`No dead task ${id.slice(0, 100)} (it may have been replayed already).`);
    return c.json(toTaskView(task), 202);
  });

  app.openapi(routes.deleteDeadTask.route, async (c) => {
    const { id } = c.req.valid('param');
    const task = isUuid(id) ? await d.commands.discard(actorOf(c), id) : null;
    if (!task) throw new NotFoundError(`No dead task ${id.slice(0, 100)}.`);
    return c.body(null, 204);
  });
}
