import { Hono } from 'hono';
import { z } from 'zod';
import { seesAllTasks } from '../lib/auth/roles';
import type { Principal } from '../lib/auth/roles';
import { ConflictError, NotFoundError, ValidationError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import { TASK_STATUSES, TERMINAL_STATUSES, toTaskView } from '../lib/tasks/task';
import type { TaskRecord } from '../lib/tasks/task';
import { auditCancelByOther } from './cancel-audit';
import type { AppEnv } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { readJsonBody } from './json-body';
import { valid } from './validate';
import { unknownFieldsMessage } from '../lib/tasks/submission';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const listQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  type: z.string().min(1).max(200).optional(),
  queue: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

/** The submitter a principal is limited to: dev sees only its own tasks. */
function ownerScope(p: Principal): string | undefined {
  return seesAllTasks(p) ? undefined : p.id;
}

/** /v1/tasks: submit, list, read, cancel, and a task's events. */
export function tasksRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.post('/', async (c) => {
    const { config } = c.get('deps');
    const body = await readJsonBody(c, config.MAX_BODY_BYTES);
    const key = c.req.header('idempotency-key') ?? null;
    if (key !== null && !IDEMPOTENCY_KEY.test(key)) {
      throw new ValidationError('The Idempotency-Key header is invalid.', [
        { path: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters' },
      ]);
    }
    const { task, replayed } = await c
      .get('services')
      .submit.submitOne(c.get('principal'), body, key, c.get('requestId'));
    c.header('Location', `/v1/tasks/${task.id}`);
    if (replayed) {
      c.header('Idempotent-Replayed', 'true');
      return c.json(toTaskView(task), 200);
    }
    return c.json(toTaskView(task), 202);
  });

  r.post('/batch', async (c) => {
    const { config } = c.get('deps');
    const body = await readJsonBody(c, config.MAX_BODY_BYTES);
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
    const tasks = await c
      .get('services')
      .submit.submitBatch(c.get('principal'), (body as { tasks: unknown[] }).tasks, c.get('requestId'));
    return c.json({ tasks: tasks.map(toTaskView) }, 202);
  });

  r.get('/', valid('query', listQuery), async (c) => {
    const q = c.req.valid('query');
    const page = await c.get('services').tasks.list({
      createdBy: ownerScope(c.get('principal')),
      status: q.status,
      type: q.type,
      queue: q.queue,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page, toTaskView));
  });

  r.get('/:id', async (c) => {
    const task = await findVisible(c, c.req.param('id'));
    return c.json(toTaskView(task));
  });

  r.get('/:id/events', async (c) => {
    const task = await findVisible(c, c.req.param('id'));
    return c.json({ items: await c.get('services').tasks.events(task.id) });
  });

  r.post('/:id/cancel', async (c) => {
    const task = await findVisible(c, c.req.param('id'));
    const { tasks } = c.get('services');
    const { queue, events } = c.get('deps');
    const actor = c.get('principal').id;
    if (TERMINAL_STATUSES.has(task.status))
      throw new ConflictError(`The task has already ended (${task.status}).`);
    const cancelled = await tasks.cancelWaiting(task.id, actor);
    if (cancelled) {
      await queue.forget(cancelled.id, cancelled.queue, cancelled.enqueueSeq).catch(() => undefined);
      events.emit('finished', { task: cancelled });
      await auditCancelByOther(c, task, 'cancelled');
      return c.json(toTaskView(cancelled), 200);
    }
    const stopping = await tasks.requestCancel(task.id);
    if (stopping) {
      // Every worker hears this; the one running the task aborts it. Its heartbeat also sees
      // the request in the database, should the broadcast be missed.
      await queue.publishCancel(stopping.id).catch(() => undefined);
      await auditCancelByOther(c, task, 'stopping');
      return c.json(toTaskView(stopping), 202);
    }
    const now = await tasks.get(task.id);
    throw new ConflictError(`The task has already ended (${now?.status ?? 'unknown'}).`);
  });

  return r;
}

/** A task the caller may see, else 404: another user's task is "not found", not forbidden. */
async function findVisible(
  c: { get: <K extends 'services' | 'principal'>(key: K) => AppEnv['Variables'][K] },
  id: string,
): Promise<TaskRecord> {
  if (!isUuid(id)) throw new NotFoundError(`No task ${JSON.stringify(id.slice(0, 100))}.`);
  const task = await c.get('services').tasks.get(id, ownerScope(c.get('principal')));
  if (!task) throw new NotFoundError(`No task ${id}.`);
  return task;
}
