import type { Server } from 'node:http';
import { Hono } from 'hono';
import type { AppEnv } from '../handlers/context';
import { metricsHandler } from '../handlers/metrics-route';
import { notFound, onError } from '../handlers/middleware/errors';
import type { Config } from '../lib/config';
import { listenHttp } from '../lib/http-server';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../lib/observability/metrics';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's own `/healthz` and `/metrics` on WORKER_METRICS_PORT: the API's metrics route,
 * so METRICS_TOKEN guards both alike.
 */
export async function startMetricsServer(d: {
  metrics: Metrics;
  config: Pick<Config, 'WORKER_METRICS_PORT' | 'SERVER_HOST' | 'METRICS_TOKEN'>;
  logger: Logger;
}): Promise<MetricsServer> {
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    c.set('logger', d.logger);
    await next();
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', metricsHandler({ registry: d.metrics.registry, token: d.config.METRICS_TOKEN }));
  app.onError(onError);
  app.notFound(notFound);
  const server = await listenHttp(
    (req) => app.fetch(req),
    d.config.SERVER_HOST,
    d.config.WORKER_METRICS_PORT,
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : d.config.WORKER_METRICS_PORT;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        (server as Server).close(() => resolve());
        (server as Server).closeAllConnections();
      }),
  };
}
