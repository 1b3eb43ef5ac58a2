import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { QueueAdmin } from '../lib/queue/queue-admin';
import type { QueueRegistry } from '../lib/queue/queue-registry';
import type { Api } from './api';
import type { ApiDeps } from './context';
import { routes } from './routes';

export interface SystemRoutesDeps {
  version: string;
  info: ApiDeps['info'];
  catalog: TaskCatalog;
  queues: QueueAdmin;
  registry: QueueRegistry;
}

/** /v1/system and /v1/me: what this deployment is, how its queues are doing, who is asking. */
export function systemRoutes(app: Api, d: SystemRoutesDeps): void {
  app.openapi(routes.getSystemInfo.route, async (c) =>
    c.json(
      {
        version: d.version,
        queueBackend: d.info.queueBackend,
        database: d.info.database,
        taskTypes: d.catalog.list(),
        queues: await d.registry.count(),
        maxQueues: d.registry.limit,
      },
      200,
    ),
  );

  app.openapi(routes.getSystemQueues.route, async (c) => c.json({ items: await d.queues.overview() }, 200));

  app.openapi(routes.getMe.route, (c) => {
    const p = c.get('principal');
    return c.json({ id: p.id, name: p.name, role: p.role }, 200);
  });
}
