import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { Consumer } from './consumer';
import { PeriodicComponent } from './periodic';

export interface RecovererDeps {
  consumer: Consumer;
  queue: QueueBackend;
  events: TaskEvents;
  logger: Logger;
  workerId: string;
  claimIdleMs: number;
  intervalMs: number;
}

/**
 * Takes over messages idle for longer than CLAIM_IDLE_MS — their worker crashed, was killed
 * or froze — continuously, not only at start, and only as many as this worker has room for.
 * The claim in the database then decides whether the attempt really was lost.
 */
export class Recoverer extends PeriodicComponent {
  constructor(private readonly d: RecovererDeps) {
    super('recoverer', d.intervalMs, d.logger);
  }

  async tick(): Promise<number> {
    const free = this.d.consumer.freeSlots();
    if (free === 0) return 0;
    const claimed = await this.d.queue.claimIdle(this.d.workerId, this.d.claimIdleMs, free);
    if (claimed.length === 0) return 0;
    this.d.events.emit('recovered', { count: claimed.length });
    this.d.logger.info(
      { count: claimed.length, tasks: claimed.slice(0, 20).map((m) => m.taskId) },
      'took over idle messages',
    );
    for (const m of claimed) this.d.consumer.dispatch(m);
    return claimed.length;
  }
}
