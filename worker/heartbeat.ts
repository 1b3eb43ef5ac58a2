import type { FlowGate } from '../lib/flow/flow-limits';
import type { Logger } from '../lib/logger';
import type { QueueBackend } from '../lib/queue/queue-backend';
import type { AttemptStore } from '../lib/tasks/attempt-store';
import type { RunningAttempt } from './attempt-runner';
import type { Consumer } from './consumer';
import { PeriodicComponent } from './periodic';

export interface HeartbeatDeps {
  consumer: Consumer;
  queue: QueueBackend;
  flowGate?: FlowGate;
  store: AttemptStore;
  logger: Logger;
  workerId: string;
  leaseMs: number;
  intervalMs: number;
}

/**
 * Keeps this worker's attempts its own: resets the idle time of its messages in the queue
 * (so no recoverer takes a long task from a live worker) and extends their leases in the
 * database. The database is the authority: an attempt whose lease was not extended (another
 * worker took it over after we froze) is aborted, and one whose task was asked to cancel is
 * cancelled — this also covers a cancellation broadcast this worker missed.
 */
export class Heartbeat extends PeriodicComponent {
  constructor(private readonly d: HeartbeatDeps) {
    super('heartbeat', d.intervalMs, d.logger);
  }

  async tick(): Promise<void> {
    const running = this.d.consumer.running();
    if (running.length === 0) return;
    // Only attempts that held a lease before the extension are judged by its answer: one
    // claimed meanwhile is not in it, and has not lost anything.
    const leased = running.flatMap((a) => (a.lease ? [{ a, lease: a.lease }] : []));
    let held: Map<string, boolean>;
    try {
      // The database is the authority on leases: they are extended first, and whatever
      // happens on the Redis side (keys lost to a restart or a FLUSHALL, Redis briefly down).
      held = await this.d.store.extendLeases(
        this.d.workerId,
        leased.map((l) => l.lease),
        this.d.leaseMs,
      );
    } finally {
      // Then the messages, so that (on one clock) a message never looks idle to a recoverer
      // before the lease it stands for has expired; done even if the extension failed.
      await this.refreshQueue(running);
    }
    for (const { a, lease } of leased) {
      if (a.abort.aborted) continue;
      const cancelRequested = held.get(lease.id);
      if (cancelRequested === undefined) {
        this.d.logger.warn(
          { taskId: lease.id },
          'lease lost (this worker was too slow); aborting the attempt',
        );
        a.abort.abort('lease_lost');
      } else if (cancelRequested) {
        a.abort.abort('cancelled');
      }
    }
  }

  /** Keeps the messages (and flow slots) fresh in Redis; a failure is logged, not thrown. */
  private async refreshQueue(running: RunningAttempt[]): Promise<void> {
    try {
      const lost = await this.d.queue.touch(
        this.d.workerId,
        running.map((a) => a.message),
      );
      if (lost.length > 0) {
        this.d.logger.debug(
          { messages: lost.length },
          'messages taken over elsewhere; the database lease decides',
        );
      }
      const flowHolders = running.flatMap((a) => (a.flow ? [a.flow] : []));
      if (this.d.flowGate && flowHolders.length > 0)
        await this.d.flowGate.refresh(flowHolders, this.d.leaseMs);
    } catch (err) {
      this.d.logger.warn(
        { err },
        'could not refresh in-flight messages in the queue; leases are still extended',
      );
    }
  }
}
