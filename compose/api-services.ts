import type { Redis } from 'ioredis';
import type { ApiServices } from '../handlers/context';
import { AuditStore } from '../lib/audit/audit-store';
import { accessBackends } from '../lib/auth/access-backends';
import { Authenticator } from '../lib/auth/authenticator';
import { UserAdmin } from '../lib/auth/user-admin';
import { UserStore } from '../lib/auth/user-store';
import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import type { Database } from '../lib/db/client';
import { FailPoints } from '../lib/failpoints';
import type { Logger } from '../lib/logger';
import { LogStore } from '../lib/logs/log-store';
import type { TaskEvents } from '../lib/observability/task-events';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { checkOutboundUrl } from '../lib/outbound/url-policy';
import { QueueAdmin } from '../lib/queue/queue-admin';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { QueuePauseStore } from '../lib/queue/queue-pauses';
import { signingKeyStore } from '../lib/signing/key-store';
import { DeadLetterStore } from '../lib/tasks/dead-letter-store';
import { SubmitService } from '../lib/tasks/submit-service';
import { TaskCommands } from '../lib/tasks/task-commands';
import { TaskStore } from '../lib/tasks/task-store';

export interface ApiClients {
  config: Config;
  database: Database;
  queue: QueueBackend;
  /** Redis for rate limits and revocation marks (null with the memory queue: one process). */
  accessRedis: Redis | null;
  catalog: TaskCatalog;
  events: TaskEvents;
  logger: Logger;
}

/** The services the API's handlers call, built from its clients: the one place they are made. */
export function buildApiServices(p: ApiClients): ApiServices {
  const { config, database, queue, events, logger } = p;
  const limits = { listTimeoutMs: config.LIST_QUERY_TIMEOUT_MS };
  const tasks = new TaskStore(database, limits);
  const users = new UserStore(database);
  const audit = new AuditStore(database);
  const access = accessBackends(p.accessRedis, config.REDIS_PREFIX, logger);
  const auth = new Authenticator(users, config.API_TOKENS, logger, access.revocations);
  const policy = addressPolicyFromConfig(config);
  return {
    tasks,
    users,
    auth,
    audit,
    rateLimiter: access.rateLimiter,
    gate: access.gate,
    userAdmin: new UserAdmin({ database, users, audit, auth, revocations: access.revocations, logger }),
    logs: new LogStore(database, limits),
    signingKeys: signingKeyStore(config, database),
    queues: new QueueAdmin({ queue, tasks, pauses: new QueuePauseStore(database) }),
    commands: new TaskCommands({
      tasks,
      deadLetters: new DeadLetterStore(database),
      audit,
      queue,
      events,
      logger,
    }),
    submit: new SubmitService(
      tasks,
      queue,
      p.catalog,
      {
        maxAttempts: config.DEFAULT_MAX_ATTEMPTS,
        timeoutMs: config.DEFAULT_TIMEOUT_MS,
        checkCallbackUrl: (url) => checkOutboundUrl(url, policy),
      },
      events,
      logger,
      new FailPoints(config.FAILPOINTS),
    ),
  };
}
