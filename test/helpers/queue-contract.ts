import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger';
import type { QueueBackend, QueueEntry } from '../../lib/queue/queue-backend';
import { RedisQueue } from '../../lib/queue/redis-queue';
import type { RedisClient } from '../../lib/redis/client';
import { ConsumerSweeper } from '../../worker/consumer-sweeper';
import { deletePrefix, testPrefix } from './redis';

/** A queue backend the contract runs against. */
export interface QueueContractBackend {
  name: string;
  /** Two handles on the same queue (two processes, for Redis). */
  open(): { a: QueueBackend; b: QueueBackend };
}

/** What each test leaves to undo, run after it. */
export const cleanups: (() => Promise<void>)[] = [];

/** Two RedisQueues on one fresh prefix over clients `openRedis` makes (a single Redis or a cluster). */
export function redisContractBackend(name: string, openRedis: () => RedisClient): QueueContractBackend {
  return {
    name,
    open() {
      const prefix = testPrefix('contract');
      const clients: RedisClient[] = [];
      const make = () => {
        const r = openRedis();
        clients.push(r);
        return new RedisQueue(r, {
          prefix,
          openConnection: () => {
            const c = openRedis();
            clients.push(c);
            return c;
          },
        });
      };
      const a = make();
      const b = make();
      cleanups.push(async () => {
        await a.close();
        await b.close();
        const r = openRedis();
        await deletePrefix(r, prefix);
        r.disconnect();
        for (const c of clients) c.disconnect();
      });
      return { a, b };
    },
  };
}

export const entry = (taskId: string, extra: Partial<QueueEntry> = {}): QueueEntry => ({
  taskId,
  seq: 1,
  queue: 'default',
  priority: 'normal',
  type: 'demo.echo',
  ...extra,
});

/** Tasks of the queue `default`, as `lookup` takes them. */
const inDefault = (...taskIds: string[]) => taskIds.map((taskId) => ({ taskId, queue: 'default' }));

/**
 * The queue contract: every backend (memory, a single Redis, a Redis Cluster) must behave the
 * same way.
 */
export function defineQueueContract(backends: QueueContractBackend[]): void {
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  describe.each(backends)('queue contract: $name', (backend) => {
    it('delivers a message once; unacknowledged it stays pending, not redelivered', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1')]);
      const first = await a.read('c1', 10, 0);
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({
        taskId: 't1',
        seq: 1,
        deliveries: 1,
        queue: 'default',
        priority: 'normal',
      });
      expect(await a.read('c2', 10, 0)).toHaveLength(0);
      const [stats] = await a.stats();
      expect(stats).toMatchObject({ name: 'default', length: 0, pending: 1 });
    });

    it('ignores an enqueue whose seq is not newer than the one held (idempotent enqueue)', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1')]);
      await a.enqueue([entry('t1')]);
      await a.enqueue([entry('t1', { seq: 0 })]);
      expect(await a.read('c1', 10, 0)).toHaveLength(1);
      await a.enqueue([entry('t1', { seq: 2 })]);
      const again = await a.read('c1', 10, 0);
      expect(again.map((m) => m.seq)).toEqual([2]);
      expect((await a.lookup(inDefault('t1', 'nope'))).get('t1')).toBe(2);
    });

    it('delivers higher priorities first under a backlog', async () => {
      const { a } = backend.open();
      await a.enqueue([
        entry('low', { priority: 'low' }),
        entry('normal', { priority: 'normal' }),
        entry('high', { priority: 'high' }),
        entry('other-high', { priority: 'high', queue: 'other' }),
      ]);
      const got = await a.read('c1', 2, 0);
      expect(got.map((m) => m.priority)).toEqual(['high', 'high']);
      const rest = await a.read('c1', 10, 0);
      expect(rest.map((m) => m.taskId)).toEqual(['normal', 'low']);
    });

    it('ack removes the message and forgets the task; a stale ack keeps the newer seq', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('c1', 1, 0);
      await a.ack(m!);
      expect((await a.lookup(inDefault('t1'))).has('t1')).toBe(false);
      expect((await a.stats())[0]).toMatchObject({ length: 0, pending: 0 });

      await a.enqueue([entry('t2')]);
      const [old] = await a.read('c1', 1, 0);
      await a.enqueue([entry('t2', { seq: 2 })]);
      await a.ack(old!);
      expect((await a.lookup(inDefault('t2'))).get('t2')).toBe(2);
    });

    it('lets another consumer take over a message idle past the claim time, counting deliveries', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('worker-a', 1, 0);
      expect(await b.claimIdle('worker-b', 60_000, 10)).toHaveLength(0);
      await sleep(80);
      const claimed = await b.claimIdle('worker-b', 50, 10);
      expect(claimed).toHaveLength(1);
      expect(claimed[0]).toMatchObject({ taskId: 't1', id: m!.id, deliveries: 2 });
      // The old owner learns it lost the message; its touch does not steal it back.
      expect(await a.touch('worker-a', [m!])).toHaveLength(1);
      await sleep(80);
      const third = await a.claimIdle('worker-a', 50, 10);
      expect(third[0]?.deliveries).toBe(3);
    });

    it('hands a message taken over by mistake back to its owner, with the delivery count it had', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('worker-a', 1, 0);
      await sleep(80);
      const [taken] = await b.claimIdle('worker-b', 50, 10);
      expect(taken).toMatchObject({ id: m!.id, deliveries: 2 });
      await b.handBack(taken!, 'worker-a');
      // The owner's touch finds the message its own again; the take-over left no trace.
      expect(await a.touch('worker-a', [m!])).toHaveLength(0);
      await sleep(80);
      const [again] = await b.claimIdle('worker-b', 50, 10);
      expect(again?.deliveries).toBe(2);
    });

    it('touch keeps a live consumer’s message from being claimed', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('worker-a', 1, 0);
      // 300 ms old in all, touched every 50: never 200 ms idle.
      for (let i = 0; i < 6; i++) {
        await sleep(50);
        expect(await a.touch('worker-a', [m!])).toHaveLength(0);
      }
      expect(await b.claimIdle('worker-b', 200, 10)).toHaveLength(0);
    });

    it('defers a message into the delayed set and promotes it when due', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('c1', 1, 0);
      const dueAt = (await a.now()) + 1000;
      await a.defer(m!, { ...entry('t1', { seq: 2 }), dueAt });
      expect((await a.stats())[0]).toMatchObject({ pending: 0, delayed: 1 });
      expect(await a.promoteDue(10)).toEqual([]);
      expect(await a.read('c1', 1, 0)).toHaveLength(0);
      await sleep(1100);
      expect(await a.promoteDue(10)).toEqual(['t1']);
      const [again] = await a.read('c1', 1, 0);
      expect(again).toMatchObject({ taskId: 't1', seq: 2 });
    });

    it('postpones a message under the same seq; it returns, with its type, when due', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1', { type: 'pg.backup' })]);
      const [m] = await a.read('c1', 1, 0);
      expect(m!.type).toBe('pg.backup');
      await a.postpone(m!, (await a.now()) + 150);
      expect((await a.stats())[0]).toMatchObject({ pending: 0, length: 0, delayed: 1 });
      expect((await a.lookup(inDefault('t1'))).get('t1')).toBe(1);
      await sleep(200);
      expect(await a.promoteDue(10)).toEqual(['t1']);
      const [back] = await a.read('c1', 1, 0);
      expect(back).toMatchObject({ taskId: 't1', seq: 1, type: 'pg.backup', deliveries: 1 });
    });

    it('wakeHeld brings a postponed task back at once, and skips one no longer held under that seq', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1'), entry('t2')]);
      const got = await a.read('c1', 2, 0);
      for (const m of got) await a.postpone(m, (await a.now()) + 60_000);
      // t2 was queued again meanwhile (a newer seq): its old wait names nothing.
      await a.enqueue([entry('t2', { seq: 2, dueAt: (await a.now()) + 60_000 })]);
      await b.wakeHeld([
        { queue: 'default', taskId: 't1', seq: 1 },
        { queue: 'default', taskId: 't2', seq: 1 },
        { queue: 'default', taskId: 'unknown', seq: 1 },
      ]);
      const back = await a.read('c1', 10, 0);
      expect(back.map((m) => [m.taskId, m.seq])).toEqual([['t1', 1]]);
      expect((await a.stats())[0]).toMatchObject({ delayed: 1 });
      // Woken twice, a task is delivered once.
      await b.wakeHeld([{ queue: 'default', taskId: 't1', seq: 1 }]);
      expect(await a.read('c1', 10, 0)).toEqual([]);
    });

    it('wakeHeld feeds a key whose front task a flow limit held back, at once', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('k1', { concurrencyKey: 'tenant' }), entry('k2', { concurrencyKey: 'tenant' })]);
      const [first] = await a.read('c1', 1, 0);
      expect(first).toMatchObject({ taskId: 'k1', concurrencyKey: 'tenant' });
      await a.postpone(first!, (await a.now()) + 60_000);
      // Held at the front of its key's lane: neither it nor the task behind it is fed.
      expect(await a.read('c1', 10, 0)).toEqual([]);
      expect(await a.promoteDue(10)).toEqual([]);
      expect(await a.read('c1', 10, 0)).toEqual([]);
      const reading = a.read('c2', 10, 3000);
      // The worker's usual case: its read is blocked by the time the wake comes.
      await sleep(100);
      const started = Date.now();
      await b.wakeHeld([{ queue: 'default', priority: 'normal', concurrencyKey: 'tenant' }]);
      const woken = await reading;
      expect(Date.now() - started).toBeLessThan(2000);
      // A blocked reader may get the primed front task alone (Redis), its next read feeding the
      // rest of the lane. Either way: its key's lane in order, the held task first.
      expect(woken[0]?.taskId).toBe('k1');
      const rest = woken.length < 2 ? await a.read('c2', 10, 0) : [];
      expect([...woken, ...rest].map((m) => m.taskId)).toEqual(['k1', 'k2']);
    });

    it('enqueues a task with a future due time into the delayed set', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('later', { dueAt: (await a.now()) + 60_000 }), entry('now', { dueAt: 1 })]);
      const got = await a.read('c1', 10, 0);
      expect(got.map((m) => m.taskId)).toEqual(['now']);
      expect((await a.stats())[0]!.delayed).toBe(1);
      await a.forget('later', 'default', 1);
      expect((await a.stats())[0]!.delayed).toBe(0);
      expect((await a.lookup(inDefault('later'))).has('later')).toBe(false);
    });

    it('dead-letters: acknowledges the message and forgets the task', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1')]);
      const [m] = await a.read('c1', 1, 0);
      await a.deadLetter(m!, 1, {
        taskId: 't1',
        type: 'demo.fail',
        queue: 'default',
        payload: { x: 1 },
        error: { message: 'boom', code: 'x' },
        attempts: 3,
      });
      expect((await a.stats())[0]).toMatchObject({ pending: 0, length: 0 });
      expect((await a.lookup(inDefault('t1'))).size).toBe(0);
    });

    it('blocks a read until a message arrives, and wake() ends the wait early', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('warm')]); // the queue exists
      await a.ack((await a.read('c1', 1, 0))[0]!);
      const started = Date.now();
      const reading = a.read('c1', 1, 3000);
      await sleep(100);
      await b.enqueue([entry('t1')]);
      const got = await reading;
      expect(got.map((m) => m.taskId)).toEqual(['t1']);
      expect(Date.now() - started).toBeLessThan(2500);

      const idleStart = Date.now();
      const idle = a.read('c1', 1, 5000);
      await sleep(150);
      a.wake();
      expect(await idle).toEqual([]);
      expect(Date.now() - idleStart).toBeLessThan(3000);
    });

    it('wake() ends a read that has not begun to wait yet: at once after read(), and again and again', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('warm')]); // the queue exists
      await a.ack((await a.read('c1', 1, 0))[0]!);
      // Called right after read(), wake() reaches Redis before the read is blocked there (or,
      // on a cluster, before its first pause): it must end that read all the same.
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const reading = a.read('c1', 1, 10_000);
        a.wake();
        expect(await reading).toEqual([]);
        expect(Date.now() - started).toBeLessThan(5000);
      }
      // A wake ends one read only: the next one waits for its message as usual.
      const reading = a.read('c1', 1, 3000);
      await sleep(100);
      await a.enqueue([entry('after')]);
      expect((await reading).map((m) => m.taskId)).toEqual(['after']);
    });

    it('counts the consumers that took messages; one leaving is removed unless it holds messages', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1'), entry('t2'), entry('t3')]);
      const [, second, third] = [
        ...(await a.read('c1', 1, 0)),
        ...(await a.read('c2', 1, 0)),
        ...(await a.read('c3', 1, 0)),
      ];
      expect((await a.stats())[0]).toMatchObject({ consumers: 3, pending: 3 });

      await a.ack(second!);
      await a.ack(third!);
      for (const c of ['c1', 'c2', 'c3']) await a.leave(c);
      // c1 still holds t1: it stays, and its message stays claimable by another worker.
      expect((await a.stats())[0]).toMatchObject({ consumers: 1, pending: 1 });
      const taken = await b.claimIdle('c4', 0, 10);
      expect(taken.map((m) => m.taskId)).toEqual(['t1']);
      await b.leave('c1');
      expect((await b.stats())[0]).toMatchObject({ consumers: 1, pending: 1 }); // c4 holds it now
    });

    it('sweeps consumers idle past a bound that hold nothing; one holding a message stays', async () => {
      const { a, b } = backend.open();
      await a.enqueue([entry('t1'), entry('t2')]);
      // 'crashed' took a message that another worker then finished: it holds nothing now.
      const [taken] = await b.read('crashed', 1, 0);
      await a.ack(taken!);
      expect(await a.read('holder', 1, 0)).toHaveLength(1);
      await sleep(80);
      expect(await b.sweepConsumers(60_000)).toEqual([]);
      const sweeper = new ConsumerSweeper({
        queue: b,
        logger: silentLogger(),
        idleMs: 50,
        intervalMs: 60_000,
      });
      expect(await sweeper.tick()).toEqual(['crashed']);
      const [stats] = await a.stats();
      expect(stats?.consumers).toBe(1);
      expect(await b.sweepConsumers(50)).toEqual([]);
    });

    it('reports how long the oldest message ready to be delivered has waited', async () => {
      const { a } = backend.open();
      await a.enqueue([entry('t1'), entry('t2', { priority: 'high' })]);
      await sleep(150);
      const [waiting] = await a.stats();
      expect(waiting?.oldestAgeSeconds).toBeGreaterThanOrEqual(0.1);
      expect(waiting?.oldestAgeSeconds).toBeLessThan(5);
      expect(await a.read('w', 2, 0)).toHaveLength(2);
      const [taken] = await a.stats();
      expect(taken).toMatchObject({ length: 0, pending: 2, oldestAgeSeconds: 0 });
    });

    it('broadcasts cancellations to every subscriber', async () => {
      const { a, b } = backend.open();
      const heard: string[] = [];
      const off = await b.onCancel((id) => heard.push(id));
      await sleep(50);
      await a.publishCancel('t9');
      for (let i = 0; i < 50 && heard.length === 0; i++) await sleep(20);
      off();
      expect(heard).toEqual(['t9']);
    });
  });
}
