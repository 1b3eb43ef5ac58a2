import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import type { QueueBackend, QueueMessage } from '../lib/queue/queue-backend';
import { backoffDelay } from '../lib/backoff';
import { AttemptAbort } from './attempt-abort';
import type { AbortReason } from './attempt-abort';
import type { AttemptRunner, RunningAttempt } from './attempt-runner';

/** Waits between failed reads (Redis down): 200 ms doubling to 5 s. */
const READ_BACKOFF = { baseMs: 200, maxMs: 5000, jitter: 'none' } as const;

export interface ConsumerDeps {
  queue: QueueBackend;
  runner: AttemptRunner;
  events: TaskEvents;
  logger: Logger;
  workerId: string;
  concurrency: number;
  /** Longest a read blocks before the loop looks at its stop flag again. */
  blockMs: number;
  /** Queues not to read (paused). */
  pausedQueues?: () => ReadonlySet<string>;
}

/**
 * Messages held past `concurrency` whose executors have returned and whose outcomes are being
 * written and acknowledged, at most (as a multiple of `concurrency`).
 */
const WRITING_ROOM = 1;

/**
 * The worker's read loop. It runs until stopped (an idle queue is not a reason to return),
 * never runs more than `concurrency` attempts (claim and executor) at once, and on stop stops
 * reading at once, lets the attempts in flight finish within the grace period, and abandons
 * the rest unacknowledged.
 *
 * A slot frees when its executor returns, not when its outcome is acknowledged: the outcome
 * write and the ack then go on beside the next attempts (still in that order, still fenced),
 * so the next read does not wait for the slowest write of a batch. Those writing attempts are
 * bounded too: at most `concurrency × (1 + WRITING_ROOM)` messages are held in all.
 */
export class Consumer {
  /** Every message held, until its attempt has written and acknowledged (or left it). */
  private readonly inflight = new Map<string, RunningAttempt>();
  /** The held messages whose attempt has not yet returned from its executor. */
  private readonly executing = new Set<string>();
  private readonly settled = new Map<string, Promise<void>>();
  private stopping = false;
  private readonly stopSignal = new AbortController();
  private loop?: Promise<void>;
  private slotFreed?: () => void;
  private recovery?: (free: number) => Promise<number>;

  constructor(private readonly d: ConsumerDeps) {}

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Free capacity: how many more messages this worker may take now. */
  freeSlots(): number {
    if (this.stopping) return 0;
    const held = this.d.concurrency * (1 + WRITING_ROOM) - this.inflight.size;
    return Math.max(0, Math.min(this.d.concurrency - this.executing.size, held));
  }

  /** The attempts in flight (for the heartbeat and cancellation). */
  running(): RunningAttempt[] {
    return [...this.inflight.values()];
  }

  /**
   * Has `claim` (the recoverer's take-over of idle messages) fill the next free slots before
   * new messages are read, until it finds fewer than it had room for. A worker kept full by a
   * backlog would otherwise refill every freed slot with new work, and a crashed worker's
   * messages would wait for a worker that happens to be idle.
   */
  recoverFirst(claim: (free: number) => Promise<number>): void {
    this.recovery ??= claim;
  }

  /**
   * One read: waits for a free slot, takes over idle messages first when the recoverer asked
   * for it, reads new ones up to the free capacity and starts each message.
   */
  async tick(): Promise<number> {
    await this.waitForSlot();
    let free = this.freeSlots();
    if (free === 0) return 0;
    let recovered = 0;
    if (this.recovery) {
      const claim = this.recovery;
      recovered = await claim(free).catch((err: unknown) => {
        this.d.logger.warn({ err }, 'taking over idle messages failed');
        return 0;
      });
      if (recovered < free) this.recovery = undefined;
      free = this.freeSlots();
      if (free === 0) return recovered;
    }
    const messages = await this.d.queue.read(this.d.workerId, free, this.d.blockMs, this.d.pausedQueues?.());
    for (const m of messages) this.dispatch(m);
    return recovered + messages.length;
  }

  /**
   * Starts work on a message this worker now holds (read, or claimed by the recoverer).
   * While stopping, messages are left pending: another worker recovers them.
   */
  dispatch(message: QueueMessage): void {
    const key = `${message.stream}/${message.id}`;
    if (this.stopping || this.inflight.has(key)) return;
    const attempt: RunningAttempt = {
      message,
      abort: new AttemptAbort(),
      executed: () => this.release(key),
    };
    this.inflight.set(key, attempt);
    this.executing.add(key);
    this.d.events.emit('inflight', { count: this.executing.size });
    const done = this.d.runner
      .run(attempt)
      .catch((err: unknown) =>
        this.d.logger.error(
          { err, taskId: message.taskId },
          'attempt failed unexpectedly; message left pending',
        ),
      )
      .finally(() => {
        this.inflight.delete(key);
        this.settled.delete(key);
        this.release(key);
      });
    this.settled.set(key, done);
  }

  /** The attempt of `key` is past its executor (or over): its slot may start another. */
  private release(key: string): void {
    if (this.executing.delete(key)) this.d.events.emit('inflight', { count: this.executing.size });
    this.slotFreed?.();
  }

  /** Aborts the attempt running `taskId`, if this worker runs it. */
  abortTask(taskId: string, reason: AbortReason): boolean {
    let found = false;
    for (const a of this.inflight.values()) {
      if (a.message.taskId === taskId && !a.abort.aborted) {
        a.abort.abort(reason);
        found = true;
      }
    }
    return found;
  }

  /**
   * Stops reading at once; waits up to `graceMs` for attempts in flight; then aborts the
   * rest with reason `shutdown` (they write nothing and stay pending) and waits for them to
   * unwind. Idempotent.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopSignal.abort();
      this.d.queue.wake();
      this.slotFreed?.();
    }
    await this.loop;
    const inFlight = [...this.settled.values()];
    if (inFlight.length > 0) {
      this.d.logger.info({ inflight: inFlight.length, graceMs }, 'waiting for attempts in flight');
      const graceOver = new AbortController();
      const timedOut = await Promise.race([
        Promise.all(inFlight).then(() => false),
        sleep(graceMs, true, { signal: graceOver.signal }),
      ]);
      graceOver.abort(); // the grace timer must not keep the process alive once work is done
      if (timedOut) {
        const left = this.running();
        this.d.logger.warn(
          { tasks: left.map((a) => a.message.taskId) },
          'grace period over; abandoning attempts, their messages stay pending for another worker',
        );
        for (const a of left) a.abort.abort('shutdown');
        this.d.runner.abandonWrites();
        await Promise.all([...this.settled.values()]);
      }
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.tick();
        failures = 0;
      } catch (err) {
        failures++;
        const delay = backoffDelay(failures, READ_BACKOFF);
        this.d.logger.warn({ err, retryInMs: delay }, 'reading the queue failed');
        await sleep(delay, undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
      }
    }
  }

  private async waitForSlot(): Promise<void> {
    while (!this.stopping && this.freeSlots() === 0) {
      await new Promise<void>((resolve) => (this.slotFreed = resolve));
      this.slotFreed = undefined;
    }
  }
}
