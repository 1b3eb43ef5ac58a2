import type { Logger } from '../lib/logger';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { PeriodicComponent } from './periodic';

export interface ConsumerSweeperDeps {
  queue: QueueBackend;
  logger: Logger;
  /** Consumers idle this long and holding nothing are removed (STALE_CONSUMER_MS). */
  idleMs: number;
  intervalMs: number;
}

/**
 * Removes crashed workers' names from every consumer group. A worker killed outright never
 * leaves its groups, and without this each crash would add a consumer to every group for
 * good. Safe with many workers at once: each removal is checked and done in one script.
 */
export class ConsumerSweeper extends PeriodicComponent {
  constructor(private readonly d: ConsumerSweeperDeps) {
    super('consumer-sweeper', d.intervalMs, d.logger);
  }

  async tick(): Promise<string[]> {
    const removed = await this.d.queue.sweepConsumers(this.d.idleMs);
    if (removed.length > 0)
      this.d.logger.info({ consumers: removed }, 'removed consumers of workers that are gone');
    return removed;
  }
}
