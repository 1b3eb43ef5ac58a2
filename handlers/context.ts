import type { Context } from 'hono';
import type { Actor, AuditStore } from '../lib/audit/audit-store';
import type { Authenticator } from '../lib/auth/authenticator';
import type { CallbackDeliveryStore } from '../lib/callbacks/delivery-store';
import type { SessionStore } from '../lib/console/session-store';
import type { HeldLease } from '../lib/leadership/lease';
import type { ActivityMinute } from '../lib/tasks/task-activity';
import type { ConsoleAssets } from './console/console-env';
import type { Principal } from '../lib/auth/roles';
import type { UserAdmin } from '../lib/auth/user-admin';
import type { UserStore } from '../lib/auth/user-store';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { LogFeed } from '../lib/logs/log-feed';
import type { LogStore } from '../lib/logs/log-store';
import type { Metrics } from '../lib/observability/metrics';
import type { QueueAdmin } from '../lib/queue/queue-admin';
import type { QueueRegistry } from '../lib/queue/queue-registry';
import type { AccessGate } from '../lib/ratelimit/admission';
import type { RateLimiter } from '../lib/ratelimit/rate-limiter';
import type { ScheduleService } from '../lib/schedules/schedule-service';
import type { SigningKeyStore } from '../lib/signing/key-store';
import type { SubmitService } from '../lib/tasks/submit-service';
import type { TaskCommands } from '../lib/tasks/task-commands';
import type { TaskStore } from '../lib/tasks/task-store';
import type { TaskTrace } from '../lib/tasks/task-trace';
import type { Tracing } from '../lib/tracing/tracing';

/** The settings the API reads; the rest of the configuration is the composition root's. */
export type ApiSettings = Pick<
  Config,
  | 'MAX_BODY_BYTES'
  | 'METRICS_TOKEN'
  | 'TRUST_PROXY'
  | 'AUTH_FAILURES_PER_MINUTE'
  | 'RATE_LIMIT_RPS'
  | 'RATE_LIMIT_BURST'
  | 'UI_SESSION_IDLE_MS'
>;

/** The services handlers call, built by the composition root from the clients. */
export interface ApiServices {
  tasks: TaskStore;
  submit: SubmitService;
  /** Recurring schedules: their routes and triggers. */
  schedules: ScheduleService;
  commands: TaskCommands;
  queues: QueueAdmin;
  /** The queue names that exist, and MAX_QUEUES. */
  registry: QueueRegistry;
  users: UserStore;
  auth: Authenticator;
  audit: AuditStore;
  userAdmin: UserAdmin;
  logs: LogStore;
  /**
   * The live tail of this process (README "Live tail"): one LISTEN shared by every open
   * stream, the API's and the console's alike.
   */
  logFeed: LogFeed;
  /** Callback signing keys; the API only publishes their public halves. */
  signingKeys: SigningKeyStore;
  /** Per-user and per-address token buckets (shared through Redis by every replica). */
  rateLimiter: RateLimiter;
  /** Admission of an authenticated request in one step (address, revocation, user bucket). */
  gate: AccessGate;
  /** The web console's sessions (README, "Web console"). */
  sessions: SessionStore;
  /** A task's callback deliveries, for the console's task page. */
  deliveries: Pick<CallbackDeliveryStore, 'forTask'>;
  /** The last hour, minute by minute, for the console's overview (cached). */
  activity: () => Promise<ActivityMinute[]>;
  /** Leader leases held (pruner, reconciler). */
  leases: () => Promise<HeldLease[]>;
}

/** What `createApp` is built from: services, settings and observability, injected. */
export interface ApiDeps {
  settings: ApiSettings;
  services: ApiServices;
  catalog: TaskCatalog;
  metrics: Metrics;
  logger: Logger;
  /** Spans of submissions; `noTracing` when no exporter is configured. */
  tracing: Tracing;
  version: string;
  /** What `/readyz` asks: each throws when its dependency cannot answer. */
  readiness: { db: () => Promise<void>; queue: () => Promise<void> };
  /** The web console's bundled script and style sheet. */
  consoleAssets: ConsoleAssets;
  /** Facts `/v1/system/info` reports. */
  info: { queueBackend: 'memory' | 'redis'; database: 'embedded' | 'postgres' };
}

/** Hono's typed context: what middleware puts on each request, and nothing else. */
export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    principal: Principal;
    /** The trace a submission's tasks keep (set on the submission routes only). */
    trace: TaskTrace | undefined;
  };
}

/** The request-scoped actor of a privileged change, for its audit entry. */
export function actorOf(c: Context<AppEnv>): Actor {
  return { principal: c.get('principal'), requestId: c.get('requestId') };
}
