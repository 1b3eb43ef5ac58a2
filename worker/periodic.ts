import type { Logger } from '../lib/logger';

/**
 * The lifecycle every periodic worker component shares: `start()` ticks at once and then
 * every `intervalMs` on an interruptible timer; `stop()` is idempotent and waits for a tick
 * in progress; `tick()` is public so tests can drive the component step by step.
 */
export abstract class PeriodicComponent {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;

  constructor(
    protected readonly name: string,
    protected readonly intervalMs: number,
    protected readonly logger: Logger,
  ) {}

  /** One pass of the component's work. */
  abstract tick(): Promise<unknown>;

  /** How long after a pass (given what it returned) the next starts: `intervalMs` unless overridden. */
  protected nextDelayMs(_result: unknown): number {
    return this.intervalMs;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      let next = this.intervalMs;
      this.running = this.tick()
        .then((result) => {
          next = this.nextDelayMs(result);
        })
        .catch((err: unknown) => this.logger.warn({ err, component: this.name }, `${this.name} tick failed`))
        .finally(() => {
          this.running = undefined;
          this.schedule(next);
        });
    }, delayMs);
  }
}
