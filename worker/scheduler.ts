import type { Logger } from '../lib/logger';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { AttemptStore } from '../lib/tasks/attempt-store';
import { PeriodicComponent } from './periodic';

export interface SchedulerDeps {
  queue: QueueBackend;
  store: AttemptStore;
  logger: Logger;
  intervalMs: number;
  batch?: number;
}

/**
 * Moves delayed tasks and retries whose time has come into their streams. The move is one
 * Lua script judged by the queue's clock, so any number of workers may run a scheduler.
 * A task is never started early: the claim checks `run_at` against the database's clock too.
 */
export class Scheduler extends PeriodicComponent {
  constructor(private readonly d: SchedulerDeps) {
    super('scheduler', d.intervalMs, d.logger);
  }

  async tick(): Promise<number> {
    const batch = this.d.batch ?? 1000;
    let total = 0;
    for (let round = 0; round < 100; round++) {
      const moved = await this.d.queue.promoteDue(batch);
      total += moved.length;
      if (moved.length > 0) {
        await this.d.store
          .markQueued(moved)
          .catch((err: unknown) => this.d.logger.debug({ err }, 'could not mark promoted tasks queued'));
      }
      if (moved.length < batch) break;
    }
    return total;
  }
}
