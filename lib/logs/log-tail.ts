import type { LogMatch } from './log-query';
import type { LogItem } from './log-store';
import type { TailPosition } from './log-tail-query';

/** One item on its way to a reader, serialised once for every reader that sees it. */
export interface TailEntry {
  item: LogItem;
  /** The item as /v1/logs shows it: JSON.stringify(item). */
  json: string;
}

/**
 * Why a tail ended: its reader went away (or the owner closed it), it fell too far behind
 * (`slow`: dropped rather than buffered for ever), or the server is shutting down.
 */
export type TailEnd = 'closed' | 'slow' | 'shutdown';

/** How much a tail holds for a reader that does not keep up before it is dropped. */
export interface TailLimits {
  items: number;
  /** Sum of the entries' JSON lengths. */
  bytes: number;
}

/**
 * One reader's live tail: a bounded buffer the feed pushes into (never waiting), drained by
 * whoever serves the reader (the SSE route, the console). Built by LogFeed.open.
 */
export class LogTail {
  private queue: TailEntry[] = [];
  private bytes = 0;
  private wake?: () => void;
  private end?: TailEnd;
  private ready: boolean;
  private resolveDone!: (why: TailEnd) => void;
  /** Resolves once the tail has ended, with why. */
  readonly done = new Promise<TailEnd>((resolve) => (this.resolveDone = resolve));
  /** Set when the catch-up left older items out (more than the resume limit came since). */
  skipped = false;

  constructor(
    readonly match: LogMatch,
    readonly userId: string,
    private readonly limits: TailLimits,
    /**
     * A resumed tail's last item: live rows at or before it are not delivered again (another
     * server may have been further along when the reader left).
     */
    readonly after: TailPosition | undefined,
    private readonly onEnd: (tail: LogTail, why: TailEnd) => void,
    catchingUp: boolean,
  ) {
    this.ready = !catchingUp;
  }

  /** Why it ended, once it has. */
  get ended(): TailEnd | undefined {
    return this.end;
  }

  /** Adds a live entry; false when the buffer is full, and the tail has then ended `slow`. */
  push(e: TailEntry): boolean {
    if (this.end) return false;
    // One entry larger than the whole byte budget still passes alone.
    const full =
      this.queue.length >= this.limits.items ||
      (this.queue.length > 0 && this.bytes + e.json.length > this.limits.bytes);
    if (full) {
      this.close('slow');
      return false;
    }
    this.queue.push(e);
    this.bytes += e.json.length;
    if (this.ready) this.wake?.();
    return true;
  }

  /**
   * The catch-up of a resumed tail, ahead of what was pushed meanwhile; until it comes,
   * take() hands out nothing. It is bounded by the resume limit, not by the buffer's.
   */
  prepend(entries: TailEntry[], skipped: boolean): void {
    if (this.end) return;
    this.queue = [...entries, ...this.queue];
    this.skipped = skipped;
    this.ready = true;
    this.wake?.();
  }

  /**
   * Everything buffered, waiting up to `waitMs` for something: [] when nothing came in time
   * (time for a keep-alive), null once the tail has ended. One caller at a time.
   */
  async take(waitMs: number): Promise<TailEntry[] | null> {
    if (!this.end && (!this.ready || this.queue.length === 0)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = undefined;
          resolve();
        }, waitMs);
        this.wake = () => {
          this.wake = undefined;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (this.end) return null;
    if (!this.ready) return [];
    const out = this.queue;
    this.queue = [];
    this.bytes = 0;
    return out;
  }

  /** Ends the tail (idempotent): its buffer goes, its reader's take() answers null. */
  close(why: TailEnd = 'closed'): void {
    if (this.end) return;
    this.end = why;
    this.queue = [];
    this.bytes = 0;
    this.wake?.();
    this.resolveDone(why);
    this.onEnd(this, why);
  }
}
