import { ValidationError } from '../lib/errors';
import type { QueueAdmin } from '../lib/queue/queue-admin';
import { QUEUE_NAME_RE } from '../lib/queue/queue-backend';
import type { Api } from './api';
import { actorOf } from './context';
import { routes } from './routes';

function queueName(name: string): string {
  if (!QUEUE_NAME_RE.test(name)) {
    throw new ValidationError('The queue name is invalid.', [
      { path: 'name', message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' },
    ]);
  }
  return name;
}

/**
 * /v1/queues (ops): every queue's state; pause (it starts nothing, loses nothing), resume,
 * and delete (only one that holds no live task).
 */
export function queueRoutes(app: Api, d: { queues: QueueAdmin }): void {
  app.openapi(routes.listQueues.route, async (c) => c.json({ items: await d.queues.overview() }, 200));

  app.openapi(routes.pauseQueue.route, async (c) =>
    c.json(await d.queues.pause(queueName(c.req.valid('param').name), actorOf(c)), 200),
  );

  app.openapi(routes.resumeQueue.route, async (c) =>
    c.json(await d.queues.resume(queueName(c.req.valid('param').name), actorOf(c)), 200),
  );

  app.openapi(routes.deleteQueue.route, async (c) => {
    await d.queues.remove(queueName(c.req.valid('param').name), actorOf(c));
    return c.body(null, 204);
  });
}
