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
    const taken = free > 0 ? await this.claim(free) : 0;
    // Full, or filled by what it found: more idle messages may be waiting. The consumer then
    // fills its next freed slots with them before it reads new work, so a backlog cannot
    // starve recovery (a full worker would otherwise never have room when this looks).
    if (taken === free) this.d.consumer.recoverFirst((n) => this.claim(n));
    return taken;
  }

  /** Takes over up to `room` idle messages and starts them. */
  private async claim(room: number): Promise<number> {
    const claimed = await this.d.queue.claimIdle(this.d.workerId, this.d.claimIdleMs, room);
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
