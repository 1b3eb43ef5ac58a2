import type { TaskCatalog } from '../lib/catalog/task-catalog';
import type { Config } from '../lib/config';
import { FailPoints } from '../lib/failpoints';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import { addressPolicyFromConfig } from '../lib/outbound/address-policy';
import { checkOutboundUrl } from '../lib/outbound/url-policy';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { QueueRegistry } from '../lib/queue/queue-registry';
import type { DependencyStore } from '../lib/tasks/dependency-store';
import { SubmitService } from '../lib/tasks/submit-service';
import type { TaskStore } from '../lib/tasks/task-store';

/**
 * The submit service of a process: the API's (POST /v1/tasks, schedule triggers) and the
 * worker's (schedule firings), built alike so that a firing is checked as a submission is.
 */
export function buildSubmitService(p: {
  config: Config;
  tasks: TaskStore;
  dependencies: DependencyStore;
  queue: QueueBackend;
  catalog: TaskCatalog;
  queues: QueueRegistry;
  events: TaskEvents;
  logger: Logger;
}): SubmitService {
  const { config } = p;
  const policy = addressPolicyFromConfig(config);
  return new SubmitService({
    store: p.tasks,
    dependencies: p.dependencies,
    queue: p.queue,
    catalog: p.catalog,
    queues: p.queues,
    defaults: {
      maxAttempts: config.DEFAULT_MAX_ATTEMPTS,
      timeoutMs: config.DEFAULT_TIMEOUT_MS,
      checkCallbackUrl: (url) => checkOutboundUrl(url, policy),
    },
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_MS,
    events: p.events,
    logger: p.logger,
    failpoints: new FailPoints(config.FAILPOINTS),
  });
}
