import { Hono } from 'hono';
import { ValidationError } from '../lib/errors';
import type { QueueAdmin } from '../lib/queue/queue-admin';
import { QUEUE_NAME_RE } from '../lib/queue/queue-backend';
import type { AppEnv } from './context';
import { actorOf } from './context';

/** /v1/queues/:name/pause|resume (ops): a paused queue starts nothing and loses nothing. */
export function queuesRouter(d: { queues: QueueAdmin }): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  const change = (paused: boolean) =>
    r.post(`/:name/${paused ? 'pause' : 'resume'}`, async (c) => {
      const name = c.req.param('name');
      if (!QUEUE_NAME_RE.test(name)) {
        throw new ValidationError('The queue name is invalid.', [
          { path: 'name', message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' },
        ]);
      }
      const state = paused ? await d.queues.pause(name, actorOf(c)) : await d.queues.resume(name, actorOf(c));
      return c.json(state);
    });
  change(true);
  change(false);
  return r;
}
