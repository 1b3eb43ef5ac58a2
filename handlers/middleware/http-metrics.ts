import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Metrics } from '../../lib/observability/metrics';
import type { AppEnv } from '../context';

/** The route pattern that answered (not the raw path: ids would explode label cardinality). */
export function answeringRoute(c: Parameters<MiddlewareHandler<AppEnv>>[0]): string | null {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.method !== 'ALL' && !r.path.endsWith('*')) return r.path;
  }
  return null;
}

/** Counts and times every answer, and logs it. */
export function httpMetrics(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = answeringRoute(c) ?? 'unmatched';
    const method = c.req.method;
    const status = c.res.status;
    metrics.httpRequests.inc({ method, route, status: String(status) });
    metrics.httpDuration.observe({ method, route }, seconds);
    const logger = c.get('logger');
    const line = { method, route, path: c.req.path, status, ms: Math.round(seconds * 10000) / 10 };
    if (status >= 500) logger.error(line, 'request failed');
    else logger.debug(line, 'request');
  };
}
