import type { Context } from 'hono';
import type { Registry } from 'prom-client';
import { UnauthorizedError } from '../lib/errors';
import { sameDigest, hashToken } from '../lib/auth/tokens';
import type { Api } from './api';
import type { AppEnv } from './context';
import { presentedToken } from './middleware/auth';
import { routes } from './routes';

export interface MetricsRouteDeps {
  registry: Registry;
  /** METRICS_TOKEN: when set, scrapes must present it as a bearer token. */
  token?: string;
}

/**
 * GET /metrics: Prometheus text; needs METRICS_TOKEN as a bearer token when it is set. The
 * same handler serves the API's and each worker's (compose/metrics-server.ts).
 */
export function metricsHandler(d: MetricsRouteDeps) {
  const wanted = d.token ? hashToken(d.token) : null;
  return async (c: Context<AppEnv>) => {
    if (wanted) {
      const given = presentedToken((n) => c.req.header(n));
      if (!given || !sameDigest(hashToken(given), wanted)) throw new UnauthorizedError();
    }
    return c.text(await d.registry.metrics(), 200, { 'Content-Type': d.registry.contentType });
  };
}

export function metricsRoutes(app: Api, d: MetricsRouteDeps): void {
  app.openapi(routes.getMetrics.route, metricsHandler(d));
}
