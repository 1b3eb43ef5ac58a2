import { Hono } from 'hono';
import { AuditStore } from '../lib/audit/audit-store';
import { FailPoints } from '../lib/failpoints';
import { Authenticator } from '../lib/auth/authenticator';
import { UserAdmin } from '../lib/auth/user-admin';
import { UserStore } from '../lib/auth/user-store';
import { LogStore } from '../lib/logs/log-store';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { checkOutboundUrl } from '../lib/outbound/url-policy';
import { signingKeyStore } from '../lib/signing/key-store';
import { SubmitService } from '../lib/tasks/submit-service';
import { TaskStore } from '../lib/tasks/task-store';
import type { AppDeps, AppEnv, Services } from './context';
import { dlqRouter } from './dlq';
import { openApiRouter } from './openapi';
import { queuesRouter } from './queues';
import { healthRouter } from './health';
import { logsRouter } from './logs';
import { jwksRouter } from './jwks';
import { meRouter } from './me';
import { metricsRouter } from './metrics-route';
import { admission } from './middleware/admission';
import { requireRouteRole } from './middleware/auth';
import { notFound, onError } from './middleware/errors';
import { httpMetrics } from './middleware/http-metrics';
import { requestContext } from './middleware/request-context';
import { ROUTE_ROLES, routeKey } from './route-roles';
import { systemRouter } from './system';
import { tasksRouter } from './tasks';
import { usersRouter } from './users';

/** The services the handlers call, built from the injected clients. */
export function buildServices(deps: AppDeps): Services {
  const tasks = new TaskStore(deps.database);
  const users = new UserStore(deps.database);
  const policy = addressPolicyFromConfig(deps.config);
  const auth = new Authenticator(users, deps.config.API_TOKENS, deps.logger, deps.revocations);
  const audit = new AuditStore(deps.database);
  const { database, revocations, logger } = deps;
  return {
    tasks,
    users,
    auth,
    audit,
    userAdmin: new UserAdmin({ database, users, audit, auth, revocations, logger }),
    logs: new LogStore(deps.database),
    signingKeys: signingKeyStore(deps.config, deps.database),
    submit: new SubmitService(
      tasks,
      deps.queue,
      deps.catalog,
      {
        maxAttempts: deps.config.DEFAULT_MAX_ATTEMPTS,
        timeoutMs: deps.config.DEFAULT_TIMEOUT_MS,
        checkCallbackUrl: (url) => checkOutboundUrl(url, policy),
      },
      deps.events,
      deps.logger,
      new FailPoints(deps.config.FAILPOINTS),
    ),
  };
}

/**
 * The whole HTTP API, built from its dependencies: the only place it is wired. Handlers use
 * Web-standard Request/Response only, so the app could run on another runtime.
 */
export function createApp(deps: AppDeps, services: Services = buildServices(deps)): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requestContext(deps, services));
  app.use('*', httpMetrics(deps.metrics));
  app.route('/', healthRouter());
  app.route('/', metricsRouter());
  app.route('/', jwksRouter());
  app.route('/', openApiRouter(deps.version, deps.catalog));
  // Order matters: a throttled address is refused before its token is looked at; the user's
  // rate limit counts every authenticated request, including those its role then refuses.
  app.use('/v1/*', admission(), requireRouteRole());
  app.route('/v1/tasks', tasksRouter());
  app.route('/v1/system', systemRouter());
  app.route('/v1/me', meRouter());
  app.route('/v1/users', usersRouter());
  app.route('/v1/logs', logsRouter());
  app.route('/v1/dlq', dlqRouter());
  app.route('/v1/queues', queuesRouter());
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
