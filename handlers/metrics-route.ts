import { Hono } from 'hono';
import { UnauthorizedError } from '../lib/errors';
import { sameDigest, hashToken } from '../lib/auth/tokens';
import type { AppEnv } from './context';
import { presentedToken } from './middleware/auth';

/** GET /metrics: Prometheus text; needs METRICS_TOKEN as a bearer token when it is set. */
export function metricsRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/metrics', async (c) => {
    const { metrics, config } = c.get('deps');
    if (config.METRICS_TOKEN) {
      const given = presentedToken((n) => c.req.header(n));
      if (!given || !sameDigest(hashToken(given), hashToken(config.METRICS_TOKEN)))
        throw new UnauthorizedError();
    }
    const text = await metrics.registry.metrics();
    return c.text(text, 200, { 'Content-Type': metrics.registry.contentType });
  });
  return r;
}
