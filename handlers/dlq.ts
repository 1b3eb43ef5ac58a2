import { Hono } from 'hono';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import { QUEUE_NAME_RE } from '../lib/queue/queue-backend';
import { MAX_BULK_REPLAY } from '../lib/tasks/dead-letter-store';
import { zodProblems } from '../lib/tasks/submission';
import { toTaskView } from '../lib/tasks/task';
import type { TaskCommands } from '../lib/tasks/task-commands';
import type { TaskStore } from '../lib/tasks/task-store';
import type { AppEnv } from './context';
import { actorOf } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { readJsonBody } from './json-body';
import { valid } from './validate';

const listQuery = z.strictObject({
  type: z.string().min(1).max(200).optional(),
  queue: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

const bulkBody = z
  .strictObject({
    ids: z.array(z.uuid()).min(1).max(1000).optional(),
    type: z.string().min(1).max(200).optional(),
    queue: z.string().regex(QUEUE_NAME_RE).optional(),
  })
  .refine((b) => b.ids !== undefined || b.type !== undefined || b.queue !== undefined, {
    error: 'name the tasks to replay: ids, type or queue (an empty filter would replay everything)',
  });

export interface DlqRouterDeps {
  tasks: TaskStore;
  commands: TaskCommands;
  maxBodyBytes: number;
}

/** /v1/dlq: dead tasks, with their payload and last error; replay and delete (ops). */
export function dlqRouter(d: DlqRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/', valid('query', listQuery), async (c) => {
    const q = c.req.valid('query');
    const page = await d.tasks.list({
      status: 'dead',
      type: q.type,
      queue: q.queue,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page, toTaskView));
  });

  r.post('/replay', async (c) => {
    const parsed = bulkBody.safeParse(await readJsonBody(c, d.maxBodyBytes));
    if (!parsed.success) {
      throw new ValidationError('The replay filter is invalid.', zodProblems('', parsed.error));
    }
    const tasks = await d.commands.replayMatching(actorOf(c), parsed.data);
    return c.json({ replayed: tasks.length, limit: MAX_BULK_REPLAY }, 202);
  });

  r.post('/:id/replay', async (c) => {
    const id = c.req.param('id');
    const task = isUuid(id) ? await d.commands.replay(actorOf(c), id) : null;
    if (!task)
      throw new NotFoundError(`No dead task ${id.slice(0, 100)} (it may have been replayed already).`);
    return c.json(toTaskView(task), 202);
  });

  r.delete('/:id', async (c) => {
    const id = c.req.param('id');
    const task = isUuid(id) ? await d.commands.discard(actorOf(c), id) : null;
    if (!task) throw new NotFoundError(`No dead task ${id.slice(0, 100)}.`);
    return c.body(null, 204);
  });

  return r;
}
