import type { Context } from 'hono';
import { seesAllTasks } from '../lib/auth/roles';
import type { Principal } from '../lib/auth/roles';
import { NotFoundError, ValidationError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { SubmitService } from '../lib/tasks/submit-service';
import { toTaskView } from '../lib/tasks/task';
import type { TaskRecord } from '../lib/tasks/task';
import type { TaskCommands } from '../lib/tasks/task-commands';
import type { TaskStore } from '../lib/tasks/task-store';
import type { Api } from './api';
import type { AppEnv } from './context';
import { actorOf } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { routes } from './routes';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The submitter a principal is limited to: dev sees only its own tasks. */
export function ownerScope(p: Principal): string | undefined {
  return seesAllTasks(p) ? undefined : p.id;
}

export interface TaskRoutesDeps {
  submit: SubmitService;
  tasks: TaskStore;
  commands: TaskCommands;
}

/** /v1/tasks: submit, list, read, cancel, and a task's events. */
export function taskRoutes(app: Api, d: TaskRoutesDeps): void {
  /** A task the caller may see, else 404: another user's task is "not found", not forbidden. */
  const findVisible = async (c: Context<AppEnv>, id: string): Promise<TaskRecord> => {
    if (!isUuid(id)) throw new NotFoundError(`No task ${JSON.stringify(id.slice(0, 100))}.`);
    const task = await d.tasks.get(id, ownerScope(c.get('principal')));
    if (!task) throw new NotFoundError(`No task ${id}.`);
    return task;
  };

  app.openapi(routes.submitTask.route, async (c) => {
    const key = c.req.header('idempotency-key') ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
      throw new ValidationError('The Idempotency-Key header is invalid.', [
        { path: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters' },
      ]);
    }
    // The body as sent (already parsed, cached by jsonBody) beside what the schema made of it.
    const body: unknown = await c.req.json();
    const { task, replayed } = await d.submit.submitOne(
      c.get('principal'),
      { accepted: c.req.valid('json'), body },
      key,
      { requestId: c.get('requestId'), trace: c.get('trace') },
    );
    c.header('Location', `/v1/tasks/${task.id}`);
    if (replayed) {
      c.header('Idempotent-Replayed', 'true');
      return c.json(toTaskView(task), 200);
    }
    return c.json(toTaskView(task), 202);
  });

  app.openapi(routes.submitBatch.route, async (c) => {
    const body = await c.req.json<{ tasks: unknown[] }>();
    const accepted = c.req.valid('json').tasks;
    const tasks = await d.submit.submitBatch(
      c.get('principal'),
      accepted.map((s, i) => ({ accepted: s, body: body.tasks[i] })),
      { requestId: c.get('requestId'), trace: c.get('trace') },
    );
    return c.json({ tasks: tasks.map(toTaskView) }, 202);
  });

  app.openapi(routes.listTasks.route, async (c) => {
    const q = c.req.valid('query');
    const page = await d.tasks.list({
      createdBy: ownerScope(c.get('principal')),
      status: q.status,
      type: q.type,
      queue: q.queue,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page, toTaskView), 200);
  });

  app.openapi(routes.getTask.route, async (c) =>
    c.json(toTaskView(await findVisible(c, c.req.valid('param').id)), 200),
  );

  app.openapi(routes.listTaskEvents.route, async (c) => {
    const task = await findVisible(c, c.req.valid('param').id);
    return c.json({ items: await d.tasks.events(task.id) }, 200);
  });

  app.openapi(routes.cancelTask.route, async (c) => {
    const task = await findVisible(c, c.req.valid('param').id);
    const outcome = await d.commands.cancel(actorOf(c), task);
    return outcome.kind === 'cancelled'
      ? c.json(toTaskView(outcome.task), 200)
      : c.json(toTaskView(outcome.task), 202);
  });
}
