import type { Logger } from '../lib/logger';
import type { QueuePauseStore } from '../lib/queue/queue-pauses';
import { PeriodicComponent } from './periodic';

/**
 * Keeps this worker's view of the paused queues, read from the database (their record) about
 * once a second: a pause takes effect within that, a Redis restart cannot undo it, and a
 * database that cannot answer keeps the last view.
 */
export class PauseWatcher extends PeriodicComponent {
  private current: ReadonlySet<string> = new Set();

  constructor(
    private readonly store: QueuePauseStore,
    logger: Logger,
    intervalMs = 1000,
  ) {
    super('pause-watcher', intervalMs, logger);
  }

  /** The queues paused as last seen. */
  paused(): ReadonlySet<string> {
    return this.current;
  }

  async tick(): Promise<void> {
    this.current = await this.store.paused();
  }
}
