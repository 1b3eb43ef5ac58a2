import { Hono } from 'hono';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { QueueAdmin } from '../lib/queue/queue-admin';
import type { QueueRegistry } from '../lib/queue/queue-registry';
import type { ApiDeps, AppEnv } from './context';

export interface SystemRouterDeps {
  version: string;
  info: ApiDeps['info'];
  catalog: TaskCatalog;
  queues: QueueAdmin;
  registry: QueueRegistry;
}

/** /v1/system: what this deployment is and how its queues are doing. */
export function systemRouter(d: SystemRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/info', async (c) =>
    c.json({
      version: d.version,
      queueBackend: d.info.queueBackend,
      database: d.info.database,
      taskTypes: d.catalog.list(),
      queues: await d.registry.count(),
      maxQueues: d.registry.limit,
    }),
  );

  r.get('/queues', async (c) => c.json({ items: await d.queues.overview() }));

  return r;
}
