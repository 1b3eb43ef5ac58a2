import type { Priority } from '../tasks/task';

/**
 * The flow of tasks between the API and the workers. Two implementations keep the same
 * semantics: Redis Streams with one consumer group (production) and an in-memory copy
 * (embedded mode, unit tests). Neither is the record of anything: the database is, and the
 * reconciler rebuilds the queue from it.
 *
 * Each task has at most one live message, named by (taskId, seq). The queue remembers, per
 * task, the seq it holds (its index); an enqueue with a seq not greater than the one held is
 * a no-op, so enqueueing is idempotent and a stale producer cannot resurrect an old message.
 */

/** A task to put on the queue. `dueAt` (epoch ms, by the queue's clock) delays it. */
export interface QueueEntry {
  taskId: string;
  seq: number;
  queue: string;
  priority: Priority;
  /** The task's type, carried in the message so flow limits can be checked before a claim. */
  type: string;
  /** Fair sharing: tasks of different keys start round-robin inside their queue. */
  concurrencyKey?: string | null;
  dueAt?: number | null;
}

/** A task as the queue finds it: its id and queue (keys are per queue). */
export interface TaskRef {
  taskId: string;
  queue: string;
}

/**
 * What `postpone` holds back, as `wakeHeld` names it: a task waiting in its queue's delayed
 * set under the seq it holds, or, for a task with a concurrency key, its key's lane (whose
 * front it waits at).
 */
export type HeldBack =
  | { queue: string; taskId: string; seq: number }
  | { queue: string; priority: Priority; concurrencyKey: string };

/** What postponing `message` holds back. */
export function heldBackOf(message: QueueMessage): HeldBack {
  const { queue, taskId, seq, priority, concurrencyKey } = message;
  return concurrencyKey ? { queue, priority, concurrencyKey } : { queue, taskId, seq };
}

/** A message delivered to a consumer. */
export interface QueueMessage {
  /** Where the message lives (the stream key); opaque outside the backend. */
  stream: string;
  /** The stream entry id. */
  id: string;
  taskId: string;
  seq: number;
  queue: string;
  priority: Priority;
  type: string;
  /** The task's fair-sharing key, or null (carried for the `key:<queue>` flow limits). */
  concurrencyKey: string | null;
  /** How many times this message has been delivered, this delivery included. */
  deliveries: number;
}

/** What the dead-letter stream keeps of a task that died. */
export interface DeadLetter {
  taskId: string;
  type: string;
  queue: string;
  payload: unknown;
  error: { message: string; code: string };
  attempts: number;
}

export interface QueueStats {
  name: string;
  /** Messages waiting to be delivered. */
  length: number;
  /** Messages delivered and not yet acknowledged. */
  pending: number;
  /** Tasks waiting for their due time. */
  delayed: number;
  /**
   * Workers consuming the queue: consumers seen within ACTIVE_CONSUMER_MS or holding messages
   * (not every worker id that ever read it).
   */
  consumers: number;
  /** The names (worker ids) of those consumers: the console's "workers alive". */
  workers: string[];
  /**
   * Seconds the oldest message ready to be delivered has waited (since it entered its stream:
   * submitted, promoted when due, or deferred); 0 when none waits.
   */
  oldestAgeSeconds: number;
}

export interface QueueBackend {
  readonly kind: 'memory' | 'redis';
  /** Adds tasks to their streams, or to the delayed set when `dueAt` is in the future. */
  enqueue(entries: readonly QueueEntry[]): Promise<void>;
  /**
   * Delivers up to `count` new messages to `consumer`, higher priorities first, waiting up
   * to `blockMs` when none is ready. Returns early (possibly empty) after `wake()`.
   * Queues in `skip` (paused ones) are not read.
   */
  read(consumer: string, count: number, blockMs: number, skip?: ReadonlySet<string>): Promise<QueueMessage[]>;
  /** Interrupts a `read` that is waiting (used on shutdown). */
  wake(): void;
  /** Takes over up to `count` messages idle for at least `minIdleMs` (a lost worker's). */
  claimIdle(consumer: string, minIdleMs: number, count: number): Promise<QueueMessage[]>;
  /**
   * Resets the idle time of messages `consumer` is still working on. Returns those it no
   * longer owns (another worker took them over): their outcome must not be written.
   */
  touch(consumer: string, messages: readonly QueueMessage[]): Promise<QueueMessage[]>;
  /**
   * Gives a message this consumer took over back to `owner`, the worker whose live lease the
   * database shows, with the delivery count it had before: taking it over was a mistake
   * (the owner only looked idle) and must not bring the task nearer its poison limit.
   */
  handBack(message: QueueMessage, owner: string): Promise<void>;
  /** Acknowledges and deletes a message; forgets the task if `message.seq` is still its seq. */
  ack(message: QueueMessage): Promise<void>;
  /** Acknowledges `message` and re-adds its task under `entry` (a retry or a not-yet-due start). */
  defer(message: QueueMessage, entry: QueueEntry & { dueAt: number }): Promise<void>;
  /**
   * Acknowledges `message` and puts its task back in the delayed set until `dueAt` under the
   * same seq: a wait that spends no attempt and writes nothing to the database.
   */
  postpone(message: QueueMessage, dueAt: number): Promise<void>;
  /**
   * Ends the wait of what `postpone` held back, now (a slot of the flow limit that held it
   * was freed): a task goes to its stream (skipped when it no longer waits under that seq), a
   * key's lane is fed again from now.
   */
  wakeHeld(held: readonly HeldBack[]): Promise<void>;
  /** Acknowledges `message` (if any), forgets the task and appends it to the dead-letter stream. */
  deadLetter(message: QueueMessage | null, seq: number, letter: DeadLetter): Promise<void>;
  /** Forgets a task that will never start (cancelled, discarded): drops it from the delayed set. */
  forget(taskId: string, queue: string, seq: number): Promise<void>;
  /** Moves up to `limit` due delayed tasks into their streams. Returns their ids. */
  promoteDue(limit: number): Promise<string[]>;
  /**
   * Deletes the dead-letter records of tasks that left the dead-letter queue (replayed,
   * discarded, pruned). Tasks without one are skipped.
   */
  removeDeadLetters(refs: readonly TaskRef[]): Promise<void>;
  /** For each task the queue knows, by task id, the seq it holds. Missing ids are not queued. */
  lookup(refs: readonly TaskRef[]): Promise<Map<string, number>>;
  /**
   * Deletes a queue's keys and forgets its name: its streams (with any stale message), its
   * delayed set, its index and its dead letters. Only for a queue the database shows holding
   * no live task (DELETE /v1/queues/:name).
   */
  removeQueue(queue: string): Promise<void>;
  /** Per-queue counts for operators. */
  stats(): Promise<QueueStats[]>;
  /** The queue's clock (epoch ms): the one clock due times are compared with. */
  now(): Promise<number>;
  /** Broadcasts that a running task was cancelled, to every worker. */
  publishCancel(taskId: string): Promise<void>;
  /** Subscribes to cancellations; returns the unsubscribe function. */
  onCancel(listener: (taskId: string) => void): Promise<() => void>;
  /**
   * A worker stopping cleanly leaves the queues' groups, except where it still holds messages
   * (abandoned at the end of the grace period: they stay claimable by others).
   */
  leave(consumer: string): Promise<void>;
  /**
   * Removes consumers that hold nothing and have been idle for at least `idleMs` (crashed
   * workers' names). Returns the names removed.
   */
  sweepConsumers(idleMs: number): Promise<string[]>;
  /** Throws when the queue cannot be reached. */
  ping(): Promise<void>;
  /** Closes connections the backend opened itself; safe to call twice. */
  close(): Promise<void>;
}

/**
 * A consumer that read or held messages this recently counts as a live worker. A waiting
 * worker reads at least every WORKER_BLOCK_MS; a busy one holds messages.
 */
export const ACTIVE_CONSUMER_MS = 60_000;

/**
 * A consumer idle this long and holding nothing is a crashed worker's leftover. A live worker
 * reads every queue at least every WORKER_BLOCK_MS (at most a minute), and one removed anyway
 * (of a queue it skips while paused) comes back with its next read.
 */
export const STALE_CONSUMER_MS = 10 * 60_000;

/** The consumer group every worker joins. */
export const CONSUMER_GROUP = 'workers';

/** Queue names are part of key names: keep them to a safe alphabet. */
export const QUEUE_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
