import { Hono } from 'hono';
import { z } from 'zod';
import { seesAllTasks } from '../lib/auth/roles';
import { NotFoundError } from '../lib/errors';
import { isUuid } from '../lib/ids';
import type { LogStore } from '../lib/logs/log-store';
import type { TaskStore } from '../lib/tasks/task-store';
import type { AppEnv } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { valid } from './validate';

const noNul = (s: string) => !s.includes('\u0000');

const logsQuery = z
  .strictObject({
    taskId: z.string().max(100).optional(),
    kind: z.string().min(1).max(100).refine(noNul, { error: 'must not contain NUL' }).optional(),
    q: z.string().min(1).max(200).refine(noNul, { error: 'must not contain NUL' }).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .refine((q) => !q.since || !q.until || Date.parse(q.since) <= Date.parse(q.until), {
    path: ['until'],
    error: 'must not be before since',
  });

/**
 * /v1/logs: task events and audit entries, newest first. ops and admin see everything; a dev
 * sees the events of its own tasks and no audit entries (the audit log is the operators').
 */
export function logsRouter(d: { tasks: TaskStore; logs: LogStore }): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/', valid('query', logsQuery), async (c) => {
    const q = c.req.valid('query');
    const principal = c.get('principal');
    const { tasks, logs } = d;
    const ownerId = seesAllTasks(principal) ? undefined : principal.id;
    if (q.taskId !== undefined) {
      // Another user's task is "not found" here too, as on /v1/tasks/:id/events.
      const task = isUuid(q.taskId) ? await tasks.get(q.taskId, ownerId) : null;
      if (!task) throw new NotFoundError(`No task ${JSON.stringify(q.taskId)}.`);
    }
    const page = await logs.list({
      ownerId,
      taskId: q.taskId,
      kind: q.kind,
      q: q.q,
      since: q.since ? new Date(q.since) : undefined,
      until: q.until ? new Date(q.until) : undefined,
      before: decodeCursor(q.cursor),
      limit: q.limit,
    });
    return c.json(pageAnswer(page));
  });

  return r;
}
