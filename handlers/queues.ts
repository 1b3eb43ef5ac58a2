import { Hono } from 'hono';
import { ValidationError } from '../lib/errors';
import { QUEUE_NAME_RE } from '../lib/queue/queue-backend';
import { QueuePauseStore } from '../lib/queue/queue-pauses';
import type { AppEnv } from './context';

/** /v1/queues/:name/pause|resume (ops): a paused queue starts nothing and loses nothing. */
export function queuesRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  const change = (paused: boolean) =>
    r.post(`/:name/${paused ? 'pause' : 'resume'}`, async (c) => {
      const name = c.req.param('name');
      if (!QUEUE_NAME_RE.test(name)) {
        throw new ValidationError('The queue name is invalid.', [
          { path: 'name', message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' },
        ]);
      }
      const store = new QueuePauseStore(c.get('deps').database);
      const actor = { principal: c.get('principal'), requestId: c.get('requestId') };
      const state = paused ? await store.pause(name, actor) : await store.resume(name, actor);
      return c.json(state);
    });
  change(true);
  change(false);
  return r;
}
