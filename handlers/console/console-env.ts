import type { Context } from 'hono';
import type { CallbackDeliveryStore } from '../../lib/callbacks/delivery-store';
import type { ConsoleSession, SessionStore } from '../../lib/console/session-store';
import type { TaskCatalog } from '../../lib/catalog/task-catalog';
import type { HeldLease } from '../../lib/leadership/lease';
import type { ActivityMinute } from '../../lib/tasks/task-activity';
import type { ApiServices, ApiSettings, AppEnv } from '../context';

/** The console's static files (the bundled script, the style sheet, the icon), by name. */
export type ConsoleAssets = (
  name: 'console.js' | 'console.css' | 'favicon.svg',
) => Promise<Uint8Array | null>;

/** What the console is built from: the API's own services (every action goes through them) and a few reads. */
export interface ConsoleDeps {
  settings: Pick<
    ApiSettings,
    'TRUST_PROXY' | 'AUTH_FAILURES_PER_MINUTE' | 'RATE_LIMIT_RPS' | 'RATE_LIMIT_BURST' | 'MAX_BODY_BYTES'
  >;
  services: Pick<
    ApiServices,
    | 'auth'
    | 'audit'
    | 'rateLimiter'
    | 'tasks'
    | 'commands'
    | 'queues'
    | 'users'
    | 'userAdmin'
    | 'logs'
    | 'schedules'
    | 'logFeed'
  > & {
    sessions: SessionStore;
    deliveries: Pick<CallbackDeliveryStore, 'forTask'>;
    /** The last hour, minute by minute (cached: many consoles may look at once). */
    activity: () => Promise<ActivityMinute[]>;
    /** Leader leases held (pruner, reconciler): part of "workers alive". */
    leases: () => Promise<HeldLease[]>;
  };
  catalog: TaskCatalog;
  assets: ConsoleAssets;
}

/** The console's context: the API's variables, and the signed-in session. */
export interface ConsoleEnv {
  Variables: AppEnv['Variables'] & { session: ConsoleSession };
}

export type ConsoleContext = Context<ConsoleEnv>;
