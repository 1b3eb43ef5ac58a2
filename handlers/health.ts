import type { Logger } from '../lib/logger';
import { withTimeout } from '../lib/with-timeout';
import type { Api } from './api';
import type { ApiDeps } from './context';
import { routes } from './routes';

const CHECK_TIMEOUT_MS = 2000;

export interface HealthRouterDeps {
  readiness: ApiDeps['readiness'];
}

/**
 * 'ok' or 'unavailable'. Why a dependency failed goes to the log only: the answer is
 * public, and error texts name hosts, users and addresses.
 */
async function check(
  name: string,
  probe: () => Promise<void>,
  logger: Logger,
): Promise<'ok' | 'unavailable'> {
  try {
    await withTimeout(probe(), CHECK_TIMEOUT_MS, name);
    return 'ok';
  } catch (err) {
    logger.warn({ err, dependency: name }, 'readiness check failed');
    return 'unavailable';
  }
}

/** Liveness (the process answers) and readiness (its database and queue answer). */
export function healthRoutes(app: Api, d: HealthRouterDeps): void {
  app.openapi(routes.getHealth.route, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(routes.getReadiness.route, async (c) => {
    const logger = c.get('logger');
    const [db, queue] = await Promise.all([
      check('database', d.readiness.db, logger),
      check('queue', d.readiness.queue, logger),
    ]);
    if (db === 'ok' && queue === 'ok')
      return c.json({ status: 'ready' as const, checks: { db, queue } }, 200);
    c.header('Retry-After', '5');
    return c.json({ status: 'unavailable' as const, checks: { db, queue } }, 503);
  });
}
