import type { AuditStore } from '../lib/audit/audit-store';
import type { Authenticator } from '../lib/auth/authenticator';
import type { Principal } from '../lib/auth/roles';
import type { UserStore } from '../lib/auth/user-store';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../lib/observability/metrics';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { SubmitService } from '../lib/tasks/submit-service';
import type { TaskStore } from '../lib/tasks/task-store';

/** What the API is built from: clients and settings, injected by the entry point or a test. */
export interface AppDeps {
  config: Config;
  database: Database;
  queue: QueueBackend;
  catalog: TaskCatalog;
  metrics: Metrics;
  events: TaskEvents;
  logger: Logger;
  version: string;
}

/** The services handlers call, built once by createApp from AppDeps. */
export interface Services {
  tasks: TaskStore;
  submit: SubmitService;
  users: UserStore;
  auth: Authenticator;
  audit: AuditStore;
}

/** Hono's typed context: what middleware puts on each request. */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    principal: Principal;
    deps: AppDeps;
    services: Services;
  };
}
