import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/client';
import { isCluster } from '../redis/client';
import { inOneTrip, throwFirstError } from '../redis/one-trip';
import type { Priority } from '../tasks/task';
import { PRIORITIES } from '../tasks/task';
import { Coalescer } from '../batch/coalescer';
import { redisKeys } from './keys';
import type { RedisKeys } from './keys';
import type {
  DeadLetter,
  HeldBack,
  QueueBackend,
  QueueEntry,
  QueueMessage,
  QueueStats,
  TaskRef,
} from './queue-backend';
import { ACTIVE_CONSUMER_MS, CONSUMER_GROUP } from './queue-backend';
import { defineLuaScripts } from '../redis/lua-scripts';
import type { ScriptCall } from '../redis/lua-scripts';
import type { QueueScriptName } from './scripts';
import { QUEUE_SCRIPTS } from './scripts';

type ScriptArg = string | number;
type ScriptRunner = Record<QueueScriptName, ScriptCall>;

export interface RedisQueueOptions {
  prefix: string;
  /** Opens another connection like the main one (blocking reads, pub/sub). */
  openConnection: () => RedisClient;
  /** Approximate cap of the dead-letter stream. */
  deadLetterMaxLen?: number;
}

/**
 * Rounds of XAUTOCLAIM per stream and recoverer pass: each scans at most COUNT×10 pending
 * entries, so a stream with a long pending list is walked over a few passes, not in one.
 */
const CLAIM_ROUNDS_PER_STREAM = 20;

/**
 * On a Redis Cluster a blocking XREADGROUP cannot wait on streams of several slots (queues),
 * so an idle worker looks again this often instead.
 */
const CLUSTER_POLL_MS = 50;
/** How often, and how many times, `wake()` tries to end a blocking read not yet blocked. */
const UNBLOCK_RETRY_MS = 10;
const UNBLOCK_TRIES = 100;

/**
 * Redis Streams with one consumer group; every multi-key change is one Lua script over the
 * keys of one queue. On a single Redis, work that spans queues (reads in priority order,
 * promotion of due tasks, take-overs) is one script call over every queue; on a Redis Cluster,
 * where each queue has its own hash slot, it is one call per queue.
 */
export class RedisQueue implements QueueBackend {
  readonly kind = 'redis' as const;
  private readonly keys;
  private readonly scripts: ScriptRunner;
  private readonly clustered: boolean;
  private blocking?: Redis;
  private blockingClientId?: number;
  private subscriber?: RedisClient;
  private readCursor = 0;
  private wakePoll?: () => void;
  /** How many times `wake()` was called: a read ends when it changed since the read began. */
  private wakes = 0;
  /** The blocking XREADGROUP in flight on the blocking connection, if any. */
  private blockedRead?: Promise<unknown>;
  private readonly cancelListeners = new Set<(taskId: string) => void>();
  private knownQueues = new Set<string>();
  private queuesReadAt = 0;
  private closed = false;
  private readonly ackers = new Map<string, Coalescer<QueueMessage, void>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisQueueOptions,
  ) {
    this.keys = redisKeys(options.prefix);
    this.scripts = defineLuaScripts(redis, QUEUE_SCRIPTS);
    this.clustered = isCluster(redis);
  }

  /**
   * Adds tasks to their queues. Concurrent calls (many API requests at once) share one
   * pipeline: one round trip for all of them.
   */
  async enqueue(entries: readonly QueueEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await Promise.all(entries.map((e) => this.enqueuer.submit(e)));
    for (const e of entries) this.knownQueues.add(e.queue);
  }

  private readonly enqueuer = new Coalescer<QueueEntry, void>(
    async (entries) => {
      // One script call per queue and priority, all in one round trip.
      const groups = groupBy(entries, (e) => `${e.queue}\n${e.priority}`);
      const queues = new Set(entries.map((e) => e.queue));
      throwFirstError(
        await inOneTrip(this.redis, (target) => {
          const runner = target as unknown as ScriptRunner;
          // The set of names has no queue's slot: registered beside the scripts, every time
          // (cheap), so that a queue Redis forgot is known again with its next task.
          void target.sadd(this.keys.queues, ...queues);
          for (const group of groups.values()) {
            const { queue, priority } = group[0]!;
            const args: ScriptArg[] = [CONSUMER_GROUP, queue, priority];
            for (const e of group)
              args.push(
                e.taskId,
                e.seq,
                e.type,
                e.concurrencyKey ?? '',
                e.dueAt && e.dueAt > 0 ? Math.ceil(e.dueAt) : 0,
              );
            void runner.procEnqueueBatch(
              this.keys.stream(queue, priority),
              this.keys.delayed(queue),
              this.keys.index(queue),
              ...args,
            );
          }
        }),
      );
      return entries.map(() => undefined);
    },
    { maxBatch: 1000, maxConcurrent: 4, eager: true },
  );

  async read(
    consumer: string,
    count: number,
    blockMs: number,
    skip?: ReadonlySet<string>,
  ): Promise<QueueMessage[]> {
    // A wake() that comes while this read is still on its way to waiting ends it too.
    const since = this.wakes;
    const all = await this.queueNames();
    const queues = skip && skip.size > 0 ? all.filter((q) => !skip.has(q)) : all;
    if (queues.length === 0) {
      await this.pause(Math.min(blockMs, 200), since);
      return [];
    }
    if (!this.clustered) {
      const streams = streamsByPriority(this.keys, queues);
      const messages = await this.readNow(consumer, count, streams);
      if (messages.length > 0 || blockMs <= 0 || this.closed) return messages;
      return this.blockingRead(consumer, count, blockMs, streams, since);
    }
    return this.clusterRead(consumer, count, blockMs, since, skip);
  }

  /**
   * A read on a Redis Cluster, where one script or one blocking XREADGROUP cannot span the
   * queues' slots: look at every stream of every queue at once (length less pending is what
   * waits), then read the streams that hold work, all high-priority ones first, each priority's
   * queues starting one queue further each time so that none is always read last. Nothing
   * waiting: look again every CLUSTER_POLL_MS until `blockMs` has passed or `wake()`.
   */
  private async clusterRead(
    consumer: string,
    count: number,
    blockMs: number,
    since: number,
    skip?: ReadonlySet<string>,
  ): Promise<QueueMessage[]> {
    const until = Date.now() + blockMs;
    for (;;) {
      const all = await this.queueNames();
      const queues = skip && skip.size > 0 ? all.filter((q) => !skip.has(q)) : all;
      const streams = streamsByPriority(this.keys, queues);
      const probe = await inOneTrip(this.redis, (target) => {
        for (const s of streams) {
          void target.xlen(s.key);
          void target.xinfo('GROUPS', s.key);
          void target.hget(this.keys.laned(s.queue), s.priority);
        }
      });
      const start = this.readCursor++;
      const ready = streams
        .map((s, i) => {
          const len = Number(probe[3 * i]?.[1] ?? 0);
          const groups = (probe[3 * i + 1]?.[1] as unknown[][] | null) ?? [];
          const group = groups.map(pairsToObject).find((g) => g.name === CONSUMER_GROUP);
          const laned = Number(probe[3 * i + 2]?.[1] ?? 0);
          return {
            s,
            waiting: len - Number(group?.pending ?? 0) + Math.max(0, laned),
            rank: modulo(queues.indexOf(s.queue) - start, queues.length),
          };
        })
        .filter((r) => r.waiting > 0)
        .sort(
          (x, y) => PRIORITIES.indexOf(x.s.priority) - PRIORITIES.indexOf(y.s.priority) || x.rank - y.rank,
        );
      const messages: QueueMessage[] = [];
      for (const r of ready) {
        if (messages.length >= count) break;
        messages.push(...(await this.readNow(consumer, count - messages.length, [r.s])));
      }
      if (messages.length > 0 || this.closed) return messages;
      const left = until - Date.now();
      if (left <= 0 || (await this.pause(Math.min(left, CLUSTER_POLL_MS), since))) return [];
    }
  }

  /** Delivers what `streams` hold now, in their order, without blocking. */
  private async readNow(consumer: string, count: number, streams: StreamRef[]): Promise<QueueMessage[]> {
    const flat = (await this.scripts.procReadPrioritized(
      streams.length,
      ...streams.map((s) => s.key),
      CONSUMER_GROUP,
      consumer,
      count,
    )) as (string | number)[];
    const messages: QueueMessage[] = [];
    for (let i = 0; i + 5 < flat.length; i += 6) {
      const s = streams[Number(flat[i]) - 1];
      if (s) {
        messages.push(
          this.message(
            s,
            String(flat[i + 1]),
            String(flat[i + 2]),
            Number(flat[i + 3]),
            String(flat[i + 4]),
            String(flat[i + 5]),
            1,
          ),
        );
      }
    }
    return messages;
  }

  /** Waits `ms`, or less when `wake()` is called (or was, since `since`); true when woken. */
  private pause(ms: number, since: number): Promise<boolean> {
    if (this.wakes !== since) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.wakePoll = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async blockingRead(
    consumer: string,
    count: number,
    blockMs: number,
    streams: StreamRef[],
    since: number,
    retried = false,
  ): Promise<QueueMessage[]> {
    if (this.wakes !== since) return [];
    const conn = this.blockingConnection();
    let reply: [string, [string, string[]][]][] | null;
    const read = conn.xreadgroup(
      'GROUP',
      CONSUMER_GROUP,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...streams.map((s) => s.key),
      ...streams.map(() => '>'),
    );
    this.blockedRead = read;
    try {
      reply = (await read) as [string, [string, string[]][]][] | null;
    } catch (err) {
      const lost = /NOGROUP|UNBLOCKED the stream key no longer exists/.test(String(err));
      if (!lost || retried || this.closed) throw err;
      // A stream of the queue (another priority) or its group does not exist yet, or Redis
      // lost them (restart without persistence, FLUSHALL; a read blocked on a stream that is
      // deleted is woken with UNBLOCKED): create them and block again — except for queues
      // deleted through the API (their streams must stay gone).
      const deleted = await this.deletedQueues(streams.map((s) => s.queue));
      const kept = streams.filter((s) => !deleted.has(s.queue));
      if (kept.length === 0) return [];
      await this.ensureGroups(kept.map((s) => s.key));
      return this.blockingRead(consumer, count, blockMs, kept, since, true);
    } finally {
      if (this.blockedRead === read) this.blockedRead = undefined;
    }
    if (!reply) return [];
    const byKey = new Map(streams.map((s) => [s.key, s]));
    const messages: QueueMessage[] = [];
    for (const [key, entries] of reply) {
      const s = byKey.get(key);
      if (!s) continue;
      for (const [id, fields] of entries) {
        const f = fieldMap(fields);
        messages.push(this.message(s, id, f.t ?? '', Number(f.s ?? 0), f.y ?? '', f.k ?? '', 1));
      }
    }
    return messages;
  }

  wake(): void {
    this.wakes++;
    this.wakePoll?.();
    if (this.blockedRead) void this.unblock(this.blockedRead);
  }

  /**
   * Ends the blocking read `read`. CLIENT UNBLOCK makes it return as if it timed out: nothing
   * is delivered and lost, unlike disconnecting. It goes on another connection than the read,
   * so it can reach Redis before the read is blocked there (it then unblocks nothing): sent
   * again every UNBLOCK_RETRY_MS until one takes, the read returns, or UNBLOCK_TRIES are spent.
   */
  private async unblock(read: Promise<unknown>): Promise<void> {
    for (let i = 0; i < UNBLOCK_TRIES && this.blockedRead === read && !this.closed; i++) {
      const id = this.blockingClientId;
      if (id !== undefined && Number(await this.redis.client('UNBLOCK', id).catch(() => 0)) === 1) return;
      await sleep(UNBLOCK_RETRY_MS);
    }
  }

  async claimIdle(consumer: string, minIdleMs: number, count: number): Promise<QueueMessage[]> {
    const queues = await this.queueNames();
    if (queues.length === 0 || count <= 0) return [];
    const claimed: QueueMessage[] = [];
    for (const group of this.slotGroups(queues)) {
      if (claimed.length >= count) break;
      claimed.push(
        ...(await this.claimIdleOf(
          streamsByPriority(this.keys, group),
          consumer,
          minIdleMs,
          count - claimed.length,
        )),
      );
    }
    return claimed;
  }

  private async claimIdleOf(
    streams: StreamRef[],
    consumer: string,
    minIdleMs: number,
    count: number,
  ): Promise<QueueMessage[]> {
    const flat = (await this.scripts.procClaimIdle(
      streams.length,
      ...streams.map((s) => s.key),
      CONSUMER_GROUP,
      consumer,
      minIdleMs,
      count,
      CLAIM_ROUNDS_PER_STREAM,
    )) as (string | number)[];
    const claimed: QueueMessage[] = [];
    for (let i = 0; i + 6 < flat.length; i += 7) {
      const s = streams[Number(flat[i]) - 1];
      if (!s) continue;
      claimed.push(
        this.message(
          s,
          String(flat[i + 1]),
          String(flat[i + 2]),
          Number(flat[i + 3]),
          String(flat[i + 4]),
          String(flat[i + 5]),
          Number(flat[i + 6]),
        ),
      );
    }
    return claimed;
  }

  async touch(consumer: string, messages: readonly QueueMessage[]): Promise<QueueMessage[]> {
    if (messages.length === 0) return [];
    const groups = [...groupBy(messages, (m) => m.stream).values()];
    const results = await inOneTrip(this.redis, (target) => {
      const runner = target as unknown as ScriptRunner;
      for (const group of groups) {
        void runner.procTouch(group[0]!.stream, CONSUMER_GROUP, consumer, ...group.map((m) => m.id));
      }
    });
    const lost: QueueMessage[] = [];
    results.forEach(([err, ids], i) => {
      if (err) throw err;
      const lostIds = new Set(ids as string[]);
      for (const m of groups[i] ?? []) if (lostIds.has(m.id)) lost.push(m);
    });
    return lost;
  }

  async handBack(message: QueueMessage, owner: string): Promise<void> {
    // JUSTID leaves the count alone, RETRYCOUNT puts back the one our take-over added. A
    // message no longer pending (acknowledged meanwhile) is not claimed: XCLAIM skips it.
    await this.redis.xclaim(
      message.stream,
      CONSUMER_GROUP,
      owner,
      0,
      message.id,
      'RETRYCOUNT',
      Math.max(1, message.deliveries - 1),
      'JUSTID',
    );
  }

  /** Acknowledges a message; concurrent acks of one stream go out as one batch script call. */
  async ack(message: QueueMessage): Promise<void> {
    let acker = this.ackers.get(message.stream);
    if (!acker) {
      const stream = message.stream;
      acker = new Coalescer<QueueMessage, void>(
        async (batch) => {
          const args: ScriptArg[] = [];
          for (const m of batch) args.push(m.id, m.taskId, m.seq);
          await this.scripts.procAckBatch(stream, this.keys.index(message.queue), CONSUMER_GROUP, ...args);
          return batch.map(() => undefined);
        },
        { maxBatch: 500, maxConcurrent: 2 },
      );
      this.ackers.set(stream, acker);
    }
    await acker.submit(message);
  }

  async defer(message: QueueMessage, entry: QueueEntry & { dueAt: number }): Promise<void> {
    if (entry.queue !== message.queue) throw new Error('a deferred task stays in its queue');
    await this.scripts.procDefer(
      message.stream,
      this.keys.delayed(entry.queue),
      this.keys.index(entry.queue),
      this.keys.stream(entry.queue, entry.priority),
      CONSUMER_GROUP,
      message.id,
      entry.taskId,
      entry.seq,
      entry.queue,
      entry.priority,
      entry.type,
      entry.dueAt,
      entry.concurrencyKey ?? '',
    );
  }

  async postpone(message: QueueMessage, dueAt: number): Promise<void> {
    await this.scripts.procPostpone(
      message.stream,
      this.keys.delayed(message.queue),
      CONSUMER_GROUP,
      message.id,
      message.taskId,
      Math.ceil(dueAt),
      message.seq,
      message.concurrencyKey ?? '',
    );
  }

  async wakeHeld(held: readonly HeldBack[]): Promise<void> {
    if (held.length === 0) return;
    const byQueue = [...groupBy(held, (h) => h.queue)];
    throwFirstError(
      await inOneTrip(this.redis, (target) => {
        const runner = target as unknown as ScriptRunner;
        for (const [q, items] of byQueue)
          void runner.procWakeHeld(
            this.keys.index(q),
            this.keys.delayed(q),
            ...PRIORITIES.map((p) => this.keys.stream(q, p)),
            CONSUMER_GROUP,
            ...items.flatMap((h) =>
              'taskId' in h ? ['t', h.taskId, h.seq] : ['l', h.priority, h.concurrencyKey],
            ),
          );
      }),
    );
  }

  async deadLetter(message: QueueMessage | null, seq: number, letter: DeadLetter): Promise<void> {
    await this.scripts.procDeadLetter(
      message?.stream ?? this.keys.stream(letter.queue, 'normal'),
      this.keys.index(letter.queue),
      this.keys.dlq(letter.queue),
      this.keys.dlqEntries(letter.queue),
      CONSUMER_GROUP,
      message?.id ?? '',
      letter.taskId,
      seq,
      this.options.deadLetterMaxLen ?? 100_000,
      letter.type,
      letter.queue,
      JSON.stringify(letter.payload),
      JSON.stringify(letter.error),
      letter.attempts,
    );
  }

  async forget(taskId: string, queue: string, seq: number): Promise<void> {
    await this.scripts.procForget(this.keys.delayed(queue), this.keys.index(queue), taskId, seq);
  }

  async promoteDue(limit: number): Promise<string[]> {
    const queues = await this.queueNames();
    if (queues.length === 0) return [];
    // On a single Redis one call for every queue: the scheduler's work per tick does not
    // grow with the number of queues. On a cluster one per queue, all at once.
    const results = await inOneTrip(this.redis, (target) => {
      const runner = target as unknown as ScriptRunner;
      for (const group of this.slotGroups(queues)) {
        const keys: string[] = [];
        for (const q of group)
          keys.push(
            this.keys.index(q),
            this.keys.delayed(q),
            ...PRIORITIES.map((p) => this.keys.stream(q, p)),
          );
        void runner.procPromoteDue(keys.length, ...keys, CONSUMER_GROUP, limit);
      }
    });
    throwFirstError(results);
    return results.flatMap(([, ids]) => ids as string[]);
  }

  async removeDeadLetters(refs: readonly TaskRef[]): Promise<void> {
    if (refs.length === 0) return;
    // One call per queue and chunk (a queue's keys share its slot), all at once; a chunk
    // keeps each script short.
    const chunks = chunksByQueue(refs, 500);
    throwFirstError(
      await inOneTrip(this.redis, (target) => {
        const runner = target as unknown as ScriptRunner;
        for (const { queue, ids } of chunks) {
          void runner.procRemoveDeadLetters(this.keys.dlq(queue), this.keys.dlqEntries(queue), ...ids);
        }
      }),
    );
  }

  async lookup(refs: readonly TaskRef[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (refs.length === 0) return found;
    const byQueue = [...groupBy(refs, (r) => r.queue)];
    const results = await inOneTrip(this.redis, (target) => {
      for (const [q, tasks] of byQueue) void target.hmget(this.keys.index(q), ...tasks.map((t) => t.taskId));
    });
    throwFirstError(results);
    byQueue.forEach(([, tasks], i) => {
      const values = results[i]![1] as (string | null)[];
      tasks.forEach(({ taskId }, j) => {
        const v = values[j];
        if (v) found.set(taskId, Number(v.slice(0, v.indexOf('|'))));
      });
    });
    return found;
  }

  async removeQueue(queue: string): Promise<void> {
    const k = this.keys;
    const rings = await inOneTrip(this.redis, (target) => {
      for (const p of PRIORITIES) void target.lrange(k.ring(queue, p), 0, -1);
    });
    throwFirstError(rings);
    const lanes = PRIORITIES.flatMap((p, i) =>
      (rings[i]![1] as string[]).map((key) => k.lane(queue, p, key)),
    );
    throwFirstError(
      await inOneTrip(this.redis, (target) => {
        void target.srem(k.queues, queue);
        // Workers learn the new list of queues within a second; a minute is ample.
        void target.set(k.deleted(queue), '1', 'PX', 60_000);
        // One DEL: every key of a queue shares its hash slot.
        void target.del(
          ...PRIORITIES.map((p) => k.stream(queue, p)),
          k.delayed(queue),
          k.index(queue),
          k.dlq(queue),
          k.dlqEntries(queue),
          k.laned(queue),
          ...PRIORITIES.map((p) => k.ring(queue, p)),
          ...PRIORITIES.map((p) => k.laneAfter(queue, p)),
          ...lanes,
        );
      }),
    );
    this.knownQueues.delete(queue);
  }

  async stats(): Promise<QueueStats[]> {
    const names = await this.queueNames(true);
    const results = await inOneTrip(this.redis, (target) => {
      for (const q of names) {
        for (const p of PRIORITIES) {
          void target.xlen(this.keys.stream(q, p));
          void target.xinfo('GROUPS', this.keys.stream(q, p));
          void target.xinfo('CONSUMERS', this.keys.stream(q, p), CONSUMER_GROUP);
        }
        void target.zcard(this.keys.delayed(q));
        void target.hgetall(this.keys.laned(q));
      }
    });
    let i = 0;
    const next = (): unknown => {
      const r = results[i++];
      return r && !r[0] ? r[1] : null;
    };
    // The oldest message still to be delivered of each stream comes right after the
    // group's last-delivered id: looked up, with Redis's clock, in a second round trip.
    const waiting: { queue: number; key: string; after: string }[] = [];
    const partial = names.map((name, q) => {
      let length = 0;
      let pending = 0;
      const active = new Set<string>();
      for (const p of PRIORITIES) {
        const len = Number(next() ?? 0);
        const groups = (next() as unknown[][] | null) ?? [];
        const group = groups.map(pairsToObject).find((g) => g.name === CONSUMER_GROUP);
        const held = Number(group?.pending ?? 0);
        pending += held;
        length += Math.max(0, len - held);
        if (len - held > 0) {
          waiting.push({
            queue: q,
            key: this.keys.stream(name, p),
            after: String((group?.['last-delivered-id'] as string | undefined) ?? '0-0'),
          });
        }
        for (const c of ((next() as unknown[][] | null) ?? []).map(pairsToObject)) {
          if (Number(c.idle) < ACTIVE_CONSUMER_MS || Number(c.pending) > 0) active.add(String(c.name));
        }
      }
      const delayed = Number(next() ?? 0);
      // Tasks waiting in fair-sharing lanes wait to be delivered too.
      for (const n of Object.values((next() as Record<string, string> | null) ?? {}))
        length += Math.max(0, Number(n));
      return {
        name,
        length,
        pending,
        delayed,
        consumers: active.size,
        workers: [...active].sort(),
        oldestAgeSeconds: 0,
      };
    });
    if (waiting.length > 0) {
      const [clock, ...firsts] = await inOneTrip(this.redis, (target) => {
        void target.time();
        for (const w of waiting) void target.xrange(w.key, `(${w.after}`, '+', 'COUNT', 1);
      });
      const [sec, usec] = (clock?.[1] as [string, string] | undefined) ?? [String(Date.now() / 1000), '0'];
      const nowMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      waiting.forEach((w, i) => {
        const entry = (firsts[i]?.[1] as [string, string[]][] | undefined)?.[0];
        if (!entry) return;
        const age = Math.max(0, (nowMs - Number(entry[0].slice(0, entry[0].indexOf('-')))) / 1000);
        const stats = partial[w.queue]!;
        stats.oldestAgeSeconds = Math.max(stats.oldestAgeSeconds, age);
      });
    }
    return partial;
  }

  async leave(consumer: string): Promise<void> {
    const names = await this.queueNames(true);
    throwFirstError(
      await inOneTrip(this.redis, (target) => {
        const runner = target as unknown as ScriptRunner;
        for (const q of names) {
          for (const p of PRIORITIES)
            void runner.procRemoveConsumer(this.keys.stream(q, p), CONSUMER_GROUP, consumer);
        }
      }),
    );
  }

  async sweepConsumers(idleMs: number): Promise<string[]> {
    const queues = await this.queueNames();
    if (queues.length === 0) return [];
    const results = await inOneTrip(this.redis, (target) => {
      const runner = target as unknown as ScriptRunner;
      for (const group of this.slotGroups(queues)) {
        const keys = streamsByPriority(this.keys, group).map((s) => s.key);
        void runner.procSweepConsumers(keys.length, ...keys, CONSUMER_GROUP, idleMs);
      }
    });
    throwFirstError(results);
    return [...new Set(results.flatMap(([, names]) => names as string[]))];
  }

  async now(): Promise<number> {
    const [s, us] = await this.redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  }

  async publishCancel(taskId: string): Promise<void> {
    await this.redis.publish(this.keys.cancelChannel, taskId);
  }

  async onCancel(listener: (taskId: string) => void): Promise<() => void> {
    this.cancelListeners.add(listener);
    if (!this.subscriber) {
      const sub = this.options.openConnection();
      this.subscriber = sub;
      sub.on('message', (_channel: string, taskId: string) => {
        for (const l of this.cancelListeners) l(taskId);
      });
      await sub.subscribe(this.keys.cancelChannel);
    }
    return () => this.cancelListeners.delete(listener);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakePoll?.();
    const own = [this.blocking, this.subscriber].filter((c): c is RedisClient => c !== undefined);
    await Promise.all(own.map((c) => c.quit().catch(() => c.disconnect())));
  }

  /** Queue names, refreshed from Redis at most once a second (or now, when `fresh`). */
  private async queueNames(fresh = false): Promise<string[]> {
    const now = Date.now();
    if (fresh || now - this.queuesReadAt > 1000) {
      // Replaced, not merged: a deleted queue's streams must not be read (a blocking read
      // would create them again).
      this.knownQueues = new Set(await this.redis.smembers(this.keys.queues));
      this.queuesReadAt = now;
    }
    return [...this.knownQueues].sort();
  }

  /** Which of `queues` were deleted a moment ago and are not in the list of queues again. */
  private async deletedQueues(queues: string[]): Promise<Set<string>> {
    const names = new Set(await this.queueNames(true));
    const gone = [...new Set(queues)].filter((q) => !names.has(q));
    const marks = await inOneTrip(this.redis, (target) => {
      for (const q of gone) void target.exists(this.keys.deleted(q));
    });
    return new Set(gone.filter((_, i) => marks[i]?.[1] === 1));
  }

  /**
   * Queues whose keys one script call may touch together: all of them on a single Redis, each
   * alone on a cluster (its own hash slot).
   */
  private slotGroups(queues: string[]): string[][] {
    return this.clustered ? queues.map((q) => [q]) : [queues];
  }

  private async ensureGroups(keys: string[]): Promise<void> {
    // BUSYGROUP answers for existing groups are expected
    await inOneTrip(this.redis, (target) => {
      for (const key of keys) void target.xgroup('CREATE', key, CONSUMER_GROUP, '0', 'MKSTREAM');
    });
  }

  /** Blocking reads over many streams: only on a single Redis (see `read`). */
  private blockingConnection(): Redis {
    if (!this.blocking) {
      const conn = this.options.openConnection() as Redis;
      this.blocking = conn;
      const learnId = () => {
        conn
          .client('ID')
          .then((id) => (this.blockingClientId = Number(id)))
          .catch(() => undefined);
      };
      conn.on('ready', learnId);
      if (conn.status === 'ready') learnId();
    }
    return this.blocking;
  }

  private message(
    s: StreamRef,
    id: string,
    taskId: string,
    seq: number,
    type: string,
    concurrencyKey: string,
    deliveries: number,
  ): QueueMessage {
    return {
      stream: s.key,
      id,
      taskId,
      seq,
      queue: s.queue,
      priority: s.priority,
      type,
      concurrencyKey: concurrencyKey === '' ? null : concurrencyKey,
      deliveries,
    };
  }
}

interface StreamRef {
  key: string;
  queue: string;
  priority: Priority;
}

/** Task ids grouped by queue, in chunks of at most `size`: the calls a per-queue script takes. */
function chunksByQueue(refs: readonly TaskRef[], size: number): { queue: string; ids: string[] }[] {
  const chunks: { queue: string; ids: string[] }[] = [];
  for (const [queue, tasks] of groupBy(refs, (r) => r.queue)) {
    for (let i = 0; i < tasks.length; i += size) {
      chunks.push({ queue, ids: tasks.slice(i, i + size).map((t) => t.taskId) });
    }
  }
  return chunks;
}

/** `items` by `keyOf`, each group in the items' order, groups in the order first seen. */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function fieldMap(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

function pairsToObject(pairs: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[String(pairs[i])] = pairs[i + 1];
  return out;
}

function modulo(n: number, m: number): number {
  return ((n % m) + m) % m;
}

/** The streams of `queues`, all high-priority streams first, then normal, then low. */
function streamsByPriority(keys: RedisKeys, queues: readonly string[]): StreamRef[] {
  const refs: StreamRef[] = [];
  for (const priority of PRIORITIES) {
    for (const queue of queues) refs.push({ key: keys.stream(queue, priority), queue, priority });
  }
  return refs;
}
