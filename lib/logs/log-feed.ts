import { backoffDelay } from '../backoff';
import type { Backoff } from '../backoff';
import type { Database } from '../db/client';
import type { NotificationSubscription } from '../db/pg-listener';
import { RateLimitedError, ServiceUnavailableError } from '../errors';
import type { Logger } from '../logger';
import type { FeedRow } from './log-match';
import { matchesLog } from './log-match';
import type { LogMatch } from './log-query';
import { toItem } from './log-store';
import type { TailEnd, TailEntry } from './log-tail';
import { LogTail } from './log-tail';
import type { ResumeFrom, TailPosition } from './log-tail-query';
import {
  catchUpQuery,
  comparePositions,
  feedQuery,
  horizonQuery,
  positionBefore,
  positionOfQuery,
} from './log-tail-query';

/** The channel migration 0011's trigger notifies when log rows were written. */
export const LOG_CHANNEL = 'procurator_logs';

export interface LogFeedOptions {
  /** Open tails per user on this process; one more is refused with 429. */
  maxPerUser: number;
  /** What a tail buffers for a reader that does not keep up; past it, the tail is dropped. */
  bufferItems: number;
  bufferBytes: number;
  /** Items a resumed tail catches up with (the newest, when more came since). */
  resumeLimit: number;
  /** How often an idle stream sends a comment (readers of LogFeed use it). */
  keepAliveMs: number;
  /**
   * The reads after the last notification (ms after it) that catch the rows of statements
   * that did not notify (only the first of each 25 ms tick does): their commits follow within
   * the first, as a rule; the later ones are for a commit held up (a slow disk, a busy server).
   */
  followUpsMs: readonly number[];
  /** Rows per feed read. */
  pageSize: number;
  /** The catch-up read's limit (LIST_QUERY_TIMEOUT_MS). */
  queryTimeoutMs: number;
}

export const LOG_FEED_DEFAULTS: Readonly<LogFeedOptions> = {
  maxPerUser: 5,
  // Four feed reads' worth: one statement may write thousands of events (a bulk replay), and
  // a reader that keeps up takes them between two reads.
  bufferItems: 2000,
  bufferBytes: 2 * 1024 * 1024,
  resumeLimit: 1000,
  keepAliveMs: 15_000,
  followUpsMs: [100, 1000, 5000],
  pageSize: 500,
  queryTimeoutMs: 5000,
};

/** Reads again while committed rows wait behind a running transaction: soon, then up to 1 s apart. */
const HELD_BACKOFF: Backoff = { baseMs: 25, maxMs: 1000, jitter: 'none' };
/** Reads again after a failed read (the database away). */
const FAILED_BACKOFF: Backoff = { baseMs: 100, maxMs: 5000, jitter: 'none' };

export interface LogFeedDeps {
  database: Database;
  logger: Logger;
  /** Told each time a tail is dropped for its slow reader (a metric listens). */
  onDrop?: () => void;
}

/**
 * The live tail of one process (README "Live tail"): ONE LISTEN on the database, shared by
 * every open tail, and one read of new log rows per wake-up, whose rows go to every tail
 * whose filter matches (matchesLog). Woken by notifications only — never by a timer reading
 * the tables — plus the reads a notification implies: a few `followUpsMs` later, and while
 * committed rows wait behind a running transaction. It listens only while a tail is open.
 */
export class LogFeed {
  readonly options: Readonly<LogFeedOptions>;
  private readonly tails = new Set<LogTail>();
  private readonly perUser = new Map<string, number>();
  private subscription?: NotificationSubscription;
  /** Every row at or before it went to the tails open at the time. */
  private cursor?: TailPosition;
  /** Raised at each start and stop: reads of an earlier run change nothing. */
  private generation = 0;
  /** Starts and stops, one after another. */
  private lifecycle: Promise<unknown> = Promise.resolve();
  private fetching = false;
  private again = false;
  private timer?: NodeJS.Timeout;
  private timerDue = Infinity;
  /** When the follow-up reads of the last notification are due, soonest first. */
  private followUps: number[] = [];
  /** When a read asked for by a read (rows held back, a failure) is due. */
  private retryDue = Infinity;
  private heldReads = 0;
  private failedReads = 0;
  private closed = false;

  constructor(
    private readonly d: LogFeedDeps,
    options: Partial<LogFeedOptions> = {},
  ) {
    this.options = { ...LOG_FEED_DEFAULTS, ...options };
  }

  /** Open tails. */
  get openCount(): number {
    return this.tails.size;
  }

  /** Whether the feed holds its LISTEN (only while a tail is open). */
  get listening(): boolean {
    return this.subscription !== undefined;
  }

  /**
   * A tail of what `match` sees, from now on; with `lastEventId`, first what came after that
   * item (up to resumeLimit, the newest). 429 past maxPerUser open tails of `userId`; 503
   * while shutting down.
   */
  async open(match: LogMatch, o: { userId: string; lastEventId?: string }): Promise<LogTail> {
    if (this.closed) throw new ServiceUnavailableError('This server is shutting down; connect again.', 1);
    const held = this.perUser.get(o.userId) ?? 0;
    if (held >= this.options.maxPerUser) {
      throw new RateLimitedError(
        `At most ${this.options.maxPerUser} log streams may be open at once per user on this server; close one first.`,
        5,
      );
    }
    // Taken now, before any await: concurrent opens count each other.
    this.perUser.set(o.userId, held + 1);
    let tail: LogTail | undefined;
    try {
      const from = o.lastEventId ? await this.resumePoint(o.lastEventId) : undefined;
      const after = from && 'position' in from ? from.position : undefined;
      let to: TailPosition | undefined;
      await this.serially(async () => {
        if (this.closed) throw new ServiceUnavailableError('This server is shutting down; connect again.', 1);
        if (!this.subscription) await this.start();
        tail = new LogTail(
          match,
          o.userId,
          { items: this.options.bufferItems, bytes: this.options.bufferBytes },
          after,
          (t, why) => this.ended(t, why),
          from !== undefined,
        );
        this.tails.add(tail);
        to = this.cursor;
      });
      if (from && to) await this.catchUp(tail!, from, to);
      return tail!;
    } catch (err) {
      if (tail) tail.close();
      else this.release(o.userId);
      throw err;
    }
  }

  /** Ends every tail (`shutdown`), refuses new ones, and lets go of the LISTEN. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of [...this.tails]) t.close('shutdown');
    await this.serially(() => this.stop());
  }

  private async resumePoint(lastEventId: string): Promise<ResumeFrom> {
    const [row] = await this.d.database.rows<{ tx: string }>(positionOfQuery(lastEventId));
    return row ? { position: { tx: String(row.tx), id: lastEventId } } : { afterId: lastEventId };
  }

  private async catchUp(tail: LogTail, from: ResumeFrom, to: TailPosition): Promise<void> {
    if ('position' in from && comparePositions(from.position, to) >= 0) {
      tail.prepend([], false);
      return;
    }
    const n = this.options.resumeLimit;
    const rows = await this.d.database.rowsWithin(
      catchUpQuery(from, to, tail.match, n + 1),
      this.options.queryTimeoutMs,
    );
    const entries = rows
      .slice(0, n)
      .reverse()
      .map((r) => entry(toItem(r)));
    tail.prepend(entries, rows.length > n);
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(step);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  /** LISTEN first, then the horizon: whatever commits after it is either notified or read. */
  private async start(): Promise<void> {
    const gen = ++this.generation;
    this.fetching = false;
    this.heldReads = 0;
    this.failedReads = 0;
    const subscription = await this.d.database.listen(LOG_CHANNEL, {
      notify: () => this.wake(gen),
      reconnected: () => this.wake(gen),
    });
    try {
      const [row] = await this.d.database.rows<{ horizon: string }>(horizonQuery());
      this.cursor = positionBefore(String(row!.horizon));
    } catch (err) {
      await subscription.close();
      throw err;
    }
    this.subscription = subscription;
    // As after a notification, read now and once more a little later: rows that committed
    // above the horizon before the LISTEN began were never notified, nor were the silent
    // statements of a tick whose notification was sent before it.
    this.wake(gen);
  }

  private async stop(): Promise<void> {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    this.followUps = [];
    this.retryDue = Infinity;
    this.cursor = undefined;
    const s = this.subscription;
    this.subscription = undefined;
    await s?.close();
  }

  private ended(tail: LogTail, why: TailEnd): void {
    if (!this.tails.delete(tail)) return;
    this.release(tail.userId);
    if (why === 'slow') {
      this.d.logger.warn({ userId: tail.userId }, 'log stream dropped: its reader fell behind');
      this.d.onDrop?.();
    }
    if (this.tails.size === 0) {
      void this.serially(async () => {
        if (this.tails.size === 0) await this.stop();
      }).catch((err: unknown) => this.d.logger.warn({ err }, 'log feed: could not stop listening'));
    }
  }

  private release(userId: string): void {
    const n = (this.perUser.get(userId) ?? 1) - 1;
    if (n > 0) this.perUser.set(userId, n);
    else this.perUser.delete(userId);
  }

  /** A notification (or the LISTEN back after a loss): read now, and a few times later. */
  private wake(gen: number): void {
    if (gen !== this.generation) return;
    this.read(gen);
    const now = Date.now();
    this.followUps = this.options.followUpsMs.map((ms) => now + ms);
    this.arm();
  }

  /** A read `ms` from now, asked for by a read. */
  private readIn(ms: number): void {
    this.retryDue = Math.min(this.retryDue, Date.now() + ms);
    this.arm();
  }

  /** The one timer, set for the soonest read due. */
  private arm(): void {
    const due = Math.min(this.followUps[0] ?? Infinity, this.retryDue);
    if (due === Infinity || (this.timer && this.timerDue <= due)) return;
    if (this.timer) clearTimeout(this.timer);
    const gen = this.generation;
    this.timerDue = due;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Infinity;
        const now = Date.now();
        this.followUps = this.followUps.filter((t) => t > now);
        if (this.retryDue <= now) this.retryDue = Infinity;
        this.read(gen);
        this.arm();
      },
      Math.max(0, due - Date.now()),
    );
  }

  private read(gen: number): void {
    if (gen !== this.generation || !this.subscription) return;
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = true;
    void this.readLoop(gen);
  }

  private async readLoop(gen: number): Promise<void> {
    let held = false;
    try {
      do {
        this.again = false;
        const rows = await this.d.database.rows(feedQuery(this.cursor!, this.options.pageSize));
        if (gen !== this.generation) return;
        const head = rows[0]!;
        const fed = rows.filter((r) => r.id !== null && r.id !== undefined).map(feedRow);
        this.deliver(fed);
        const last = fed[fed.length - 1];
        if (fed.length === this.options.pageSize) {
          this.cursor = { tx: last!.tx, id: last!.item.id };
          this.again = true;
        } else {
          const horizon = positionBefore(String(head.horizon));
          if (comparePositions(horizon, this.cursor!) > 0) this.cursor = horizon;
          held = head.held === true;
        }
      } while (this.again && gen === this.generation);
      this.failedReads = 0;
      if (held) this.readIn(backoffDelay(++this.heldReads, HELD_BACKOFF));
      else this.heldReads = 0;
    } catch (err) {
      if (gen !== this.generation) return;
      if (++this.failedReads === 1) this.d.logger.warn({ err }, 'log feed: read failed; retrying');
      this.readIn(backoffDelay(this.failedReads, FAILED_BACKOFF));
    } finally {
      if (gen === this.generation) {
        this.fetching = false;
        if (this.again) this.read(gen);
      }
    }
  }

  /** Each row to every tail that sees it, serialised at most once. */
  private deliver(rows: FeedRow[]): void {
    for (const row of rows) {
      let e: TailEntry | undefined;
      for (const tail of this.tails) {
        if (tail.after && comparePositions({ tx: row.tx, id: row.item.id }, tail.after) <= 0) continue;
        if (!matchesLog(row, tail.match)) continue;
        e ??= entry(row.item);
        tail.push(e);
      }
    }
  }
}

function entry(item: TailEntry['item']): TailEntry {
  return { item, json: JSON.stringify(item) };
}

function feedRow(r: Record<string, unknown>): FeedRow {
  return {
    item: toItem(r),
    tx: String(r.tx),
    owner: (r.owner as string | null) ?? null,
    dataText: (r.data_text as string | null) ?? null,
  };
}
