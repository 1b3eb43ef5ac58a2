import { Hono } from 'hono';
import type { ApiDeps, AppEnv } from './context';
import { dlqRouter } from './dlq';
import { healthRouter } from './health';
import { jwksRouter } from './jwks';
import { logsRouter } from './logs';
import { meRouter } from './me';
import { metricsRouter } from './metrics-route';
import { admission } from './middleware/admission';
import { requireRouteRole } from './middleware/auth';
import { notFound, onError } from './middleware/errors';
import { httpMetrics } from './middleware/http-metrics';
import { requestContext } from './middleware/request-context';
import { openApiRouter } from './openapi';
import { queuesRouter } from './queues';
import { ROUTE_ROLES, routeKey } from './route-roles';
import { systemRouter } from './system';
import { tasksRouter } from './tasks';
import { usersRouter } from './users';

/**
 * The whole HTTP API, built from its dependencies: every router and middleware gets what it
 * uses as arguments. Handlers use Web-standard Request/Response only, so the app could run on
 * another runtime.
 */
export function createApp(deps: ApiDeps): Hono<AppEnv> {
  const { services: s, settings, metrics } = deps;
  const maxBodyBytes = settings.MAX_BODY_BYTES;
  const app = new Hono<AppEnv>();
  app.use('*', requestContext({ logger: deps.logger }));
  app.use('*', httpMetrics(metrics));
  app.route('/', healthRouter({ readiness: deps.readiness }));
  app.route('/', metricsRouter({ registry: metrics.registry, token: settings.METRICS_TOKEN }));
  app.route('/', jwksRouter({ signingKeys: s.signingKeys }));
  app.route('/', openApiRouter(deps.version, deps.catalog));
  // Order matters: a throttled address is refused before its token is looked at; the user's
  // rate limit counts every authenticated request, including those its role then refuses.
  app.use(
    '/v1/*',
    admission({ auth: s.auth, gate: s.gate, rateLimiter: s.rateLimiter, metrics, settings }),
    requireRouteRole({ roles: ROUTE_ROLES }),
  );
  app.route(
    '/v1/tasks',
    tasksRouter({ submit: s.submit, tasks: s.tasks, commands: s.commands, maxBodyBytes }),
  );
  app.route(
    '/v1/system',
    systemRouter({
      version: deps.version,
      info: deps.info,
      catalog: deps.catalog,
      queues: s.queues,
      registry: s.registry,
    }),
  );
  app.route('/v1/me', meRouter());
  app.route('/v1/users', usersRouter({ users: s.users, userAdmin: s.userAdmin, maxBodyBytes }));
  app.route('/v1/logs', logsRouter({ tasks: s.tasks, logs: s.logs }));
  app.route('/v1/dlq', dlqRouter({ tasks: s.tasks, commands: s.commands, maxBodyBytes }));
  app.route('/v1/queues', queuesRouter({ queues: s.queues }));
  app.onError(onError);
  app.notFound(notFound);
  assertEveryRouteHasARole(app);
  return app;
}

function assertEveryRouteHasARole(app: Hono<AppEnv>): void {
  const missing = app.routes
    .filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL' && !r.path.endsWith('*'))
    .map((r) => routeKey(r.method, r.path))
    .filter((key) => ROUTE_ROLES[key] === undefined);
  if (missing.length > 0) throw new Error(`routes without a role in ROUTE_ROLES: ${missing.join(', ')}`);
}
