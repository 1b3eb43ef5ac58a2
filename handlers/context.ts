import type { AuditStore } from '../lib/audit/audit-store';
import type { Authenticator } from '../lib/auth/authenticator';
import type { Principal } from '../lib/auth/roles';
import type { TokenRevocations } from '../lib/auth/token-revocations';
import type { AccessGate } from '../lib/ratelimit/admission';
import type { UserAdmin } from '../lib/auth/user-admin';
import type { UserStore } from '../lib/auth/user-store';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import type { Logger } from '../lib/logger';
import type { LogStore } from '../lib/logs/log-store';
import type { Metrics } from '../lib/observability/metrics';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { RateLimiter } from '../lib/ratelimit/rate-limiter';
import type { SigningKeyStore } from '../lib/signing/key-store';
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
  /** Per-user and per-address token buckets (shared through Redis by every replica). */
  rateLimiter: RateLimiter;
  /** Revoked-token marks every replica checks before trusting its auth cache. */
  revocations: TokenRevocations;
  /** Admission of an authenticated request in one step (address, revocation, user bucket). */
  gate: AccessGate;
}

/** The services handlers call, built once by createApp from AppDeps. */
export interface Services {
  tasks: TaskStore;
  submit: SubmitService;
  users: UserStore;
  auth: Authenticator;
  audit: AuditStore;
  userAdmin: UserAdmin;
  logs: LogStore;
  /** Callback signing keys; the API only publishes their public halves. */
  signingKeys: SigningKeyStore;
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
