import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { seesAllTasks } from '../lib/auth/roles';
import type { Principal } from '../lib/auth/roles';
import { NotFoundError, ValidationError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { SubmitService } from '../lib/tasks/submit-service';
import { unknownFieldsMessage } from '../lib/tasks/submission';
import { TASK_STATUSES, toTaskView } from '../lib/tasks/task';
import type { TaskRecord } from '../lib/tasks/task';
import type { TaskCommands } from '../lib/tasks/task-commands';
import type { TaskStore } from '../lib/tasks/task-store';
import type { AppEnv } from './context';
import { actorOf } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { readJsonBody } from './json-body';
import { valid } from './validate';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const listQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  type: z.string().min(1).max(200).optional(),
  queue: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

/** The submitter a principal is limited to: dev sees only its own tasks. */
export function ownerScope(p: Principal): string | undefined {
  return seesAllTasks(p) ? undefined : p.id;
}

export interface TasksRouterDeps {
  submit: SubmitService;
  tasks: TaskStore;
  commands: TaskCommands;
  maxBodyBytes: number;
}

/** /v1/tasks: submit, list, read, cancel, and a task's events. */
export function tasksRouter(d: TasksRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  /** A task the caller may see, else 404: another user's task is "not found", not forbidden. */
  const findVisible = async (c: Context<AppEnv>, id: string): Promise<TaskRecord> => {
    if (!isUuid(id)) throw new NotFoundError(`No task ${JSON.stringify(id.slice(0, 100))}.`);
    const task = await d.tasks.get(id, ownerScope(c.get('principal')));
    if (!task) throw new NotFoundError(`No task ${id}.`);
    return task;
  };

  r.post('/', async (c) => {
    const body = await readJsonBody(c, d.maxBodyBytes);
    const key = c.req.header('idempotency-key') ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
      throw new ValidationError('The Idempotency-Key header is invalid.', [
        { path: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters' },
      ]);
    }
    const { task, replayed } = await d.submit.submitOne(c.get('principal'), body, key, c.get('requestId'));
    c.header('Location', `/v1/tasks/${task.id}`);
    if (replayed) {
      c.header('Idempotent-Replayed', 'true');
      return c.json(toTaskView(task), 200);
    }
    return c.json(toTaskView(task), 202);
  });

  r.post('/batch', async (c) => {
    const body = await readJsonBody(c, d.maxBodyBytes);
    if (
      typeof body !== 'object' ||
      body === null ||
      Array.isArray(body) ||
      !Array.isArray((body as { tasks?: unknown }).tasks)
    ) {
      throw new ValidationError('A batch is {"tasks": [ ... ]}.', [
        { path: 'tasks', message: 'must be an array' },
      ]);
    }
    const extra = Object.keys(body).filter((k) => k !== 'tasks');
    if (extra.length > 0) {
      throw new ValidationError('A batch is {"tasks": [ ... ]}.', [
        { path: '(body)', message: unknownFieldsMessage(extra) },
      ]);
    }
    const tasks = await d.submit.submitBatch(
      c.get('principal'),
      (body as { tasks: unknown[] }).tasks,
      c.get('requestId'),
    );
    return c.json({ tasks: tasks.map(toTaskView) }, 202);
  });

  r.get('/', valid('query', listQuery), async (c) => {
    const q = c.req.valid('query');
    const page = await d.tasks.list({
      createdBy: ownerScope(c.get('principal')),
      status: q.status,
      type: q.type,
      queue: q.queue,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page, toTaskView));
  });

  r.get('/:id', async (c) => c.json(toTaskView(await findVisible(c, c.req.param('id')))));

  r.get('/:id/events', async (c) => {
    const task = await findVisible(c, c.req.param('id'));
    return c.json({ items: await d.tasks.events(task.id) });
  });

  r.post('/:id/cancel', async (c) => {
    const task = await findVisible(c, c.req.param('id'));
    const outcome = await d.commands.cancel(actorOf(c), task);
    return c.json(toTaskView(outcome.task), outcome.kind === 'cancelled' ? 200 : 202);
  });

  return r;
}
