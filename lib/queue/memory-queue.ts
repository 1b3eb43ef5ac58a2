import type { Priority } from '../tasks/task';
import { PRIORITIES } from '../tasks/task';
import type {
  DeadLetter,
  HeldBack,
  QueueBackend,
  QueueEntry,
  QueueMessage,
  QueueStats,
  TaskRef,
} from './queue-backend';
import { ACTIVE_CONSUMER_MS } from './queue-backend';

interface PendingEntry {
  consumer: string;
  deliveredAt: number;
  deliveries: number;
}

interface StreamEntry {
  taskId: string;
  seq: number;
  type: string;
  concurrencyKey: string | null;
}

/**
 * One stream with its consumer group, as Redis keeps it, and its fair-sharing lanes: tasks
 * with a concurrency key wait in their key's lane while the stream has work, and are fed into
 * the stream round-robin across keys as consumers read it.
 */
class MemoryStream {
  private seqInMs = 0;
  private lastMs = 0;
  /** Entries not yet delivered, oldest first. */
  readonly waiting: string[] = [];
  readonly entries = new Map<string, StreamEntry>();
  /** Key → its tasks waiting to be fed, oldest first. */
  readonly lanes = new Map<string, { taskId: string; seq: number }[]>();
  /** Keys with a non-empty lane, in the order they are fed. */
  readonly ring: string[] = [];
  /** Key → before when its lane is not fed (its front task was held back by a flow limit). */
  readonly after = new Map<string, number>();
  readonly pending = new Map<string, PendingEntry>();
  /** Consumer → when it last read or claimed (as XINFO CONSUMERS' idle time). */
  readonly consumers = new Map<string, number>();

  /** Whether `consumer` holds a delivered, unacknowledged message of this stream. */
  holds(consumer: string): boolean {
    for (const p of this.pending.values()) if (p.consumer === consumer) return true;
    return false;
  }

  constructor(
    readonly key: string,
    readonly queue: string,
    readonly priority: Priority,
  ) {}

  /** Tasks in lanes, not yet fed into the stream. */
  laned(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.length;
    return n;
  }

  /**
   * Adds a task: straight to the stream when it has no key, or when nothing waits in the
   * stream or the lanes; else to the end of its key's lane.
   */
  place(taskId: string, seq: number, type: string, key: string | null, now: number): void {
    if (!key || (this.ring.length === 0 && this.entries.size - this.pending.size === 0)) {
      this.add(taskId, seq, type, key, now);
      return;
    }
    const lane = this.lanes.get(key);
    if (lane) lane.push({ taskId, seq });
    else {
      this.lanes.set(key, [{ taskId, seq }]);
      this.ring.push(key);
    }
  }

  /** Puts a task held back by a flow limit at the front of its key's lane, fed from `notBefore`. */
  hold(taskId: string, seq: number, key: string, notBefore: number): void {
    const lane = this.lanes.get(key);
    if (lane) lane.unshift({ taskId, seq });
    else {
      this.lanes.set(key, [{ taskId, seq }]);
      this.ring.push(key);
    }
    this.after.set(key, notBefore);
  }

  /**
   * Moves up to `n` tasks from the lanes into the stream, one per key in turn (a lane held
   * back is passed over until its time). A lane entry whose task the index no longer holds
   * under that seq (cancelled, re-queued) is dropped.
   */
  feed(n: number, live: (taskId: string, seq: number) => string | undefined, now: number): void {
    let fed = 0;
    for (let tries = 0; fed < n && this.ring.length > 0 && tries < n * 4 + 16; tries++) {
      const key = this.ring.shift()!;
      const lane = this.lanes.get(key)!;
      const wait = this.after.get(key);
      if (wait !== undefined && wait > now) {
        this.ring.push(key);
        continue;
      }
      this.after.delete(key);
      const next = lane.shift()!;
      if (lane.length > 0) this.ring.push(key);
      else this.lanes.delete(key);
      const type = live(next.taskId, next.seq);
      if (type === undefined) continue;
      this.add(next.taskId, next.seq, type, key, now);
      fed++;
    }
  }

  add(taskId: string, seq: number, type: string, concurrencyKey: string | null, now: number): string {
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seqInMs = 0;
    } else {
      this.seqInMs++;
    }
    const id = `${this.lastMs}-${this.seqInMs}`;
    this.entries.set(id, { taskId, seq, type, concurrencyKey });
    this.waiting.push(id);
    return id;
  }

  remove(id: string): void {
    this.entries.delete(id);
    this.pending.delete(id);
  }
}

/**
 * The in-memory queue: the semantics of the Redis one (consumer group, pending entries,
 * delivery counts, claim by idle time, seq-fenced index, delayed sets) in one process.
 * Used by `serve` with QUEUE_BACKEND=memory and by fast unit tests; `now` is injectable so
 * tests can move idle times without waiting.
 */
export class MemoryQueue implements QueueBackend {
  readonly kind = 'memory' as const;
  private readonly streams = new Map<string, MemoryStream>();
  private readonly delayed = new Map<string, Map<string, number>>();
  private readonly index = new Map<
    string,
    { seq: number; queue: string; priority: Priority; type: string; concurrencyKey: string | null }
  >();
  private readonly waiters = new Set<() => void>();
  private readonly cancelListeners = new Set<(taskId: string) => void>();
  /**
   * Dead-letter records by task id, oldest first (a Map keeps insertion order): one per task,
   * dropped when it is replayed, discarded or pruned, so nothing dead stays longer than
   * retention allows.
   */
  readonly deadLetters = new Map<string, DeadLetter & { at: number }>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly deadLetterMaxLen = 10_000,
  ) {}

  enqueue(entries: readonly QueueEntry[]): Promise<void> {
    for (const e of entries) this.addTask(e);
    return Promise.resolve();
  }

  async read(
    consumer: string,
    count: number,
    blockMs: number,
    skip?: ReadonlySet<string>,
  ): Promise<QueueMessage[]> {
    const ready = this.deliver(consumer, count, skip);
    if (ready.length > 0 || blockMs <= 0) return ready;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, blockMs);
      this.waiters.add(done);
    });
    return this.deliver(consumer, count, skip);
  }

  wake(): void {
    for (const w of [...this.waiters]) w();
  }

  claimIdle(consumer: string, minIdleMs: number, count: number): Promise<QueueMessage[]> {
    const now = this.clock();
    const claimed: QueueMessage[] = [];
    for (const stream of this.orderedStreams()) {
      stream.consumers.set(consumer, now);
      for (const [id, p] of stream.pending) {
        if (claimed.length >= count) break;
        if (now - p.deliveredAt < minIdleMs) continue;
        const entry = stream.entries.get(id);
        if (!entry) {
          stream.pending.delete(id); // deleted from the stream: XAUTOCLAIM drops it too
          continue;
        }
        p.consumer = consumer;
        p.deliveredAt = now;
        p.deliveries++;
        claimed.push(this.message(stream, id, entry, p.deliveries));
      }
    }
    return Promise.resolve(claimed);
  }

  touch(consumer: string, messages: readonly QueueMessage[]): Promise<QueueMessage[]> {
    const now = this.clock();
    const lost: QueueMessage[] = [];
    for (const m of messages) {
      const p = this.streams.get(m.stream)?.pending.get(m.id);
      if (p && p.consumer === consumer) p.deliveredAt = now;
      else lost.push(m);
    }
    return Promise.resolve(lost);
  }

  handBack(message: QueueMessage, owner: string): Promise<void> {
    const p = this.streams.get(message.stream)?.pending.get(message.id);
    if (p) {
      p.consumer = owner;
      p.deliveredAt = this.clock();
      p.deliveries = Math.max(1, message.deliveries - 1);
    }
    return Promise.resolve();
  }

  ack(message: QueueMessage): Promise<void> {
    this.streams.get(message.stream)?.remove(message.id);
    if (this.index.get(message.taskId)?.seq === message.seq) this.index.delete(message.taskId);
    return Promise.resolve();
  }

  defer(message: QueueMessage, entry: QueueEntry & { dueAt: number }): Promise<void> {
    this.streams.get(message.stream)?.remove(message.id);
    this.addTask(entry);
    return Promise.resolve();
  }

  postpone(message: QueueMessage, dueAt: number): Promise<void> {
    const stream = this.streams.get(message.stream);
    stream?.remove(message.id);
    if (stream && message.concurrencyKey) {
      stream.hold(message.taskId, message.seq, message.concurrencyKey, dueAt);
      return Promise.resolve();
    }
    let delayedSet = this.delayed.get(message.queue);
    if (!delayedSet) this.delayed.set(message.queue, (delayedSet = new Map<string, number>()));
    delayedSet.set(message.taskId, dueAt);
    return Promise.resolve();
  }

  wakeHeld(held: readonly HeldBack[]): Promise<void> {
    const now = this.clock();
    for (const h of held) {
      if (!('taskId' in h)) {
        this.streams.get(streamKey(h.queue, h.priority))?.after.delete(h.concurrencyKey);
        continue;
      }
      const entry = this.index.get(h.taskId);
      if (entry?.seq === h.seq && this.delayed.get(h.queue)?.delete(h.taskId))
        this.stream(h.queue, entry.priority).place(h.taskId, entry.seq, entry.type, null, now);
    }
    this.wake();
    return Promise.resolve();
  }

  deadLetter(message: QueueMessage | null, seq: number, letter: DeadLetter): Promise<void> {
    if (message) this.streams.get(message.stream)?.remove(message.id);
    const held = this.index.get(letter.taskId);
    if (held && held.seq <= seq) this.index.delete(letter.taskId);
    this.deadLetters.delete(letter.taskId);
    this.deadLetters.set(letter.taskId, { ...letter, at: this.clock() });
    if (this.deadLetters.size > this.deadLetterMaxLen) {
      this.deadLetters.delete(this.deadLetters.keys().next().value!);
    }
    return Promise.resolve();
  }

  removeDeadLetters(refs: readonly TaskRef[]): Promise<void> {
    for (const r of refs) this.deadLetters.delete(r.taskId);
    return Promise.resolve();
  }

  forget(taskId: string, queue: string, seq: number): Promise<void> {
    this.delayed.get(queue)?.delete(taskId);
    const held = this.index.get(taskId);
    if (held && held.seq <= seq) this.index.delete(taskId);
    return Promise.resolve();
  }

  promoteDue(limit: number): Promise<string[]> {
    const now = this.clock();
    const moved: string[] = [];
    for (const [queue, set] of [...this.delayed].sort(([a], [b]) => a.localeCompare(b))) {
      const due = [...set].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
      for (const [taskId] of due) {
        if (moved.length >= limit) break;
        set.delete(taskId);
        const held = this.index.get(taskId);
        if (!held) continue;
        this.stream(queue, held.priority).place(taskId, held.seq, held.type, held.concurrencyKey, now);
        moved.push(taskId);
      }
    }
    // Lanes held back by a flow limit are looked at again on each tick, as on Redis.
    const lanesWait = [...this.streams.values()].some((st) => st.ring.length > 0 && st.waiting.length === 0);
    if (moved.length > 0 || lanesWait) this.wake();
    return Promise.resolve(moved);
  }

  removeQueue(queue: string): Promise<void> {
    for (const p of PRIORITIES) this.streams.delete(streamKey(queue, p));
    this.delayed.delete(queue);
    for (const [taskId, held] of this.index) if (held.queue === queue) this.index.delete(taskId);
    for (const [taskId, letter] of this.deadLetters)
      if (letter.queue === queue) this.deadLetters.delete(taskId);
    return Promise.resolve();
  }

  lookup(refs: readonly TaskRef[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (const { taskId, queue } of refs) {
      const held = this.index.get(taskId);
      if (held && held.queue === queue) found.set(taskId, held.seq);
    }
    return Promise.resolve(found);
  }

  stats(): Promise<QueueStats[]> {
    const now = this.clock();
    const names = new Set<string>([...this.delayed.keys()]);
    for (const s of this.streams.values()) names.add(s.queue);
    const out = [...names].sort().map((name) => {
      let length = 0;
      let pending = 0;
      let oldest = now;
      const active = new Set<string>();
      for (const p of PRIORITIES) {
        const s = this.streams.get(streamKey(name, p));
        if (!s) continue;
        pending += s.pending.size;
        length += s.entries.size - s.pending.size + s.laned();
        const first = s.waiting.find((id) => s.entries.has(id));
        if (first) oldest = Math.min(oldest, Number(first.slice(0, first.indexOf('-'))));
        for (const [c, seen] of s.consumers) {
          if (now - seen < ACTIVE_CONSUMER_MS || s.holds(c)) active.add(c);
        }
      }
      return {
        name,
        length,
        pending,
        delayed: this.delayed.get(name)?.size ?? 0,
        consumers: active.size,
        workers: [...active].sort(),
        oldestAgeSeconds: Math.max(0, (now - oldest) / 1000),
      };
    });
    return Promise.resolve(out);
  }

  leave(consumer: string): Promise<void> {
    for (const s of this.streams.values()) {
      if (!s.holds(consumer)) s.consumers.delete(consumer);
    }
    return Promise.resolve();
  }

  sweepConsumers(idleMs: number): Promise<string[]> {
    const now = this.clock();
    const removed = new Set<string>();
    for (const s of this.streams.values()) {
      for (const [c, seen] of s.consumers) {
        if (now - seen >= idleMs && !s.holds(c)) {
          s.consumers.delete(c);
          removed.add(c);
        }
      }
    }
    return Promise.resolve([...removed]);
  }

  now(): Promise<number> {
    return Promise.resolve(this.clock());
  }

  publishCancel(taskId: string): Promise<void> {
    for (const l of this.cancelListeners) l(taskId);
    return Promise.resolve();
  }

  onCancel(listener: (taskId: string) => void): Promise<() => void> {
    this.cancelListeners.add(listener);
    return Promise.resolve(() => this.cancelListeners.delete(listener));
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.wake();
    return Promise.resolve();
  }

  /** Drops everything, as FLUSHALL does to Redis (for recovery tests). */
  flush(): void {
    this.streams.clear();
    this.delayed.clear();
    this.index.clear();
  }

  private addTask(e: QueueEntry): number {
    const held = this.index.get(e.taskId);
    if (held && held.seq >= e.seq) return 0;
    const concurrencyKey = e.concurrencyKey ?? null;
    this.index.set(e.taskId, {
      seq: e.seq,
      queue: e.queue,
      priority: e.priority,
      type: e.type,
      concurrencyKey,
    });
    const now = this.clock();
    let delayedSet = this.delayed.get(e.queue);
    if (e.dueAt && e.dueAt > now) {
      if (!delayedSet) this.delayed.set(e.queue, (delayedSet = new Map<string, number>()));
      delayedSet.set(e.taskId, e.dueAt);
      return 2;
    }
    delayedSet?.delete(e.taskId);
    this.stream(e.queue, e.priority).place(e.taskId, e.seq, e.type, concurrencyKey, now);
    this.wake();
    return 1;
  }

  private deliver(consumer: string, count: number, skip?: ReadonlySet<string>): QueueMessage[] {
    const now = this.clock();
    const out: QueueMessage[] = [];
    for (const stream of this.orderedStreams()) {
      if (skip?.has(stream.queue)) continue;
      stream.consumers.set(consumer, now);
      for (let fed = false; ; fed = true) {
        while (out.length < count && stream.waiting.length > 0) {
          const id = stream.waiting.shift()!;
          const entry = stream.entries.get(id);
          if (!entry) continue;
          stream.pending.set(id, { consumer, deliveredAt: now, deliveries: 1 });
          out.push(this.message(stream, id, entry, 1));
        }
        if (fed || out.length >= count || stream.ring.length === 0) break;
        stream.feed(count - out.length, (taskId, seq) => this.liveType(stream.queue, taskId, seq), now);
      }
      if (out.length >= count) break;
    }
    return out;
  }

  /** Streams with the highest priority first, queues in name order within a priority. */
  private orderedStreams(): MemoryStream[] {
    const rank = (p: Priority) => PRIORITIES.indexOf(p);
    return [...this.streams.values()].sort(
      (a, b) => rank(a.priority) - rank(b.priority) || a.queue.localeCompare(b.queue),
    );
  }

  private stream(queue: string, priority: Priority): MemoryStream {
    const key = streamKey(queue, priority);
    let s = this.streams.get(key);
    if (!s) this.streams.set(key, (s = new MemoryStream(key, queue, priority)));
    return s;
  }

  /** The type of a task the index holds in `queue` under `seq`; undefined when it does not. */
  private liveType(queue: string, taskId: string, seq: number): string | undefined {
    const held = this.index.get(taskId);
    return held && held.seq === seq && held.queue === queue ? held.type : undefined;
  }

  private message(s: MemoryStream, id: string, entry: StreamEntry, deliveries: number): QueueMessage {
    return { stream: s.key, id, ...entry, queue: s.queue, priority: s.priority, deliveries };
  }
}

function streamKey(queue: string, priority: Priority): string {
  return `stream:${queue}:${priority}`;
}
