import type { Api } from './api';
import { newApi } from './api';
import type { ApiDeps } from './context';
import { consoleRoutes } from './console';
import { dlqRoutes } from './dlq';
import { healthRoutes } from './health';
import { integrationRoutes } from './integrations';
import { jwksRoutes } from './jwks';
import { logRoutes } from './logs';
import { metricsRoutes } from './metrics-route';
import { admission } from './middleware/admission';
import { requireRouteRole } from './middleware/auth';
import { notFound, onError } from './middleware/errors';
import { httpMetrics } from './middleware/http-metrics';
import { jsonBody } from './middleware/json-body';
import { requestContext } from './middleware/request-context';
import { submissionTrace } from './middleware/submission-trace';
import { openApiRoutes } from './openapi';
import { queueRoutes } from './queues';
import { ROUTE_ROLES, routeKey } from './route-roles';
import { scheduleRoutes } from './schedules';
import { routes } from './routes';
import { systemRoutes } from './system';
import { taskRoutes } from './tasks';
import { userRoutes } from './users';

/**
 * The whole HTTP API, built from its dependencies: every route of the route table
 * (handlers/routes.ts) gets its handler from the module of its resource, each module and
 * middleware built from what it uses. Handlers use Web-standard Request/Response only, so the
 * app could run on another runtime.
 */
export function createApp(deps: ApiDeps): Api {
  const { services: s, settings, metrics } = deps;
  const app = newApi();
  app.use('*', requestContext({ logger: deps.logger }));
  app.use('*', httpMetrics(metrics));
  // Before admission, so that the span covers the whole request, refusals included.
  for (const r of [routes.submitTask, routes.submitBatch, routes.receiveAlerts]) {
    const path = r.route.getRoutingPath();
    app.use(path, submissionTrace(deps.tracing, path));
  }
  // Order matters: a throttled address is refused before its token is looked at; the user's
  // rate limit counts every authenticated request, including those its role then refuses; a
  // body is read only once its sender may send it.
  app.use(
    '/v1/*',
    admission({ auth: s.auth, gate: s.gate, rateLimiter: s.rateLimiter, metrics, settings }),
    requireRouteRole({ roles: ROUTE_ROLES }),
    jsonBody({ maxBytes: settings.MAX_BODY_BYTES }),
  );
  healthRoutes(app, { readiness: deps.readiness });
  metricsRoutes(app, { registry: metrics.registry, token: settings.METRICS_TOKEN });
  jwksRoutes(app, { signingKeys: s.signingKeys });
  taskRoutes(app, { submit: s.submit, tasks: s.tasks, commands: s.commands });
  systemRoutes(app, {
    version: deps.version,
    info: deps.info,
    catalog: deps.catalog,
    queues: s.queues,
    registry: s.registry,
  });
  userRoutes(app, { users: s.users, userAdmin: s.userAdmin });
  logRoutes(app, { tasks: s.tasks, logs: s.logs, feed: s.logFeed });
  dlqRoutes(app, { tasks: s.tasks, commands: s.commands });
  queueRoutes(app, { queues: s.queues });
  scheduleRoutes(app, { schedules: s.schedules });
  integrationRoutes(app, { submit: s.submit });
  openApiRoutes(app, { version: deps.version, catalog: deps.catalog });
  consoleRoutes(app, { settings, services: s, catalog: deps.catalog, assets: deps.consoleAssets });
  app.onError(onError);
  app.notFound(notFound);
  assertRoutesMatchTheTable(app);
  return app;
}

/** Every route of the table has a handler, and every /v1 handler a route (and so a role). */
function assertRoutesMatchTheTable(app: Api): void {
  const mounted = new Set(
    app.routes.filter((r) => r.method !== 'ALL').map((r) => routeKey(r.method, r.path)),
  );
  const declared = Object.values(routes).map((r) => routeKey(r.route.method, r.route.getRoutingPath()));
  const unmounted = declared.filter((k) => !mounted.has(k));
  const unlisted = [...mounted].filter((k) => k.includes(' /v1/') && ROUTE_ROLES[k] === undefined);
  if (unmounted.length > 0) throw new Error(`routes of the table without a handler: ${unmounted.join(', ')}`);
  if (unlisted.length > 0)
    throw new Error(`/v1 routes without a role in the route table: ${unlisted.join(', ')}`);
}
