import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { UnauthorizedError } from '../lib/errors';
import { sameDigest, hashToken } from '../lib/auth/tokens';
import type { AppEnv } from './context';
import { presentedToken } from './middleware/auth';

export interface MetricsRouterDeps {
  registry: Registry;
  /** METRICS_TOKEN: when set, scrapes must present it as a bearer token. */
  token?: string;
}

/** GET /metrics: Prometheus text; needs METRICS_TOKEN as a bearer token when it is set. */
export function metricsRouter(d: MetricsRouterDeps): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const wanted = d.token ? hashToken(d.token) : null;
  r.get('/metrics', async (c) => {
    if (wanted) {
      const given = presentedToken((n) => c.req.header(n));
      if (!given || !sameDigest(hashToken(given), wanted)) throw new UnauthorizedError();
    }
    return c.text(await d.registry.metrics(), 200, { 'Content-Type': d.registry.contentType });
  });
  return r;
}
