import type { Hono } from 'hono';
import { NotFoundError, ValidationError } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import { zodProblems } from '../../../lib/tasks/submission';
import { TAIL_HEADERS, tailBody } from '../../log-stream';
import { routes } from '../../routes';
import { LogStreamHeaders, LogStreamQuery } from '../../schemas/logs';
import { ownerScope } from '../../tasks';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { needs } from '../session';

/**
 * GET /ui/api/stream: the live tail (README "Live tail") for the console's pages, behind the
 * session instead of a token (a browser's EventSource cannot send one) — the same feed, the
 * same filters, the same scope as GET /v1/logs/stream, and the same per-user limit of open
 * streams. The pages use its events only as a signal to fetch their server-rendered rows
 * again; where it cannot be opened (the limit reached, a proxy that buffers), they poll.
 */
export function liveRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  ui.get('/api/stream', needs(routes.streamLogs.access), async (c) => {
    const q = LogStreamQuery.safeParse(c.req.query());
    if (!q.success)
      throw new ValidationError('The request query string is invalid.', zodProblems('query', q.error));
    const h = LogStreamHeaders.safeParse({ 'last-event-id': c.req.header('last-event-id') });
    if (!h.success) throw new ValidationError('A request header is invalid.', zodProblems('header', h.error));
    const p = c.get('principal');
    const ownerId = ownerScope(p);
    if (q.data.taskId !== undefined) {
      const task = isUuid(q.data.taskId) ? await d.services.tasks.get(q.data.taskId, ownerId) : null;
      if (!task) throw new NotFoundError(`No task ${JSON.stringify(q.data.taskId)}.`);
    }
    if (c.req.method === 'HEAD') return c.body(null, 200, TAIL_HEADERS);
    const tail = await d.services.logFeed.open(
      { ownerId, taskId: q.data.taskId, kind: q.data.kind, q: q.data.q },
      { userId: p.id, lastEventId: h.data['last-event-id'] },
    );
    return c.body(tailBody(tail, d.services.logFeed.options.keepAliveMs), 200, TAIL_HEADERS);
  });
}
