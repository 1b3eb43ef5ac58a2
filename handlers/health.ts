import { Hono } from 'hono';
import type { Logger } from '../lib/logger';
import { withTimeout } from '../lib/with-timeout';
import type { ApiDeps, AppEnv } from './context';

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
export function healthRouter(d: HealthRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/healthz', (c) => c.json({ status: 'ok' }));
  r.get('/readyz', async (c) => {
    const logger = c.get('logger');
    const [db, queue] = await Promise.all([
      check('database', d.readiness.db, logger),
      check('queue', d.readiness.queue, logger),
    ]);
    const ready = db === 'ok' && queue === 'ok';
    if (!ready) c.header('Retry-After', '5');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks: { db, queue } }, ready ? 200 : 503);
  });
  return r;
}
