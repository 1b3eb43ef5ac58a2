import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Lease } from '../../lib/leadership/lease';
import { silentLogger } from '../../lib/logger';
import type { MemoryQueue } from '../../lib/queue/memory-queue';
import type { QueueBackend, QueueEntry, TaskRef } from '../../lib/queue/queue-backend';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { Reconciler } from '../../worker/reconciler';
import type { ReconcilerDeps } from '../../worker/reconciler';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

let stack: Stack;
beforeEach(async () => {
  stack = await startStack({ worker: false });
});
afterEach(async () => {
  await stack.stop();
});

/** The queue and the store, counting their calls: the round trips a repair costs. */
function counted(queue: QueueBackend) {
  const calls = { enqueue: 0, lookup: 0, bumpSeqs: 0, enqueued: 0 };
  const store = new AttemptStore(stack.database);
  const q: QueueBackend = Object.create(queue) as QueueBackend;
  q.enqueue = async (entries: readonly QueueEntry[]) => {
    calls.enqueue++;
    calls.enqueued += entries.length;
    return queue.enqueue(entries);
  };
  q.lookup = async (refs: readonly TaskRef[]) => {
    calls.lookup++;
    return queue.lookup(refs);
  };
  const s: ReconcilerDeps['store'] = {
    activeTasks: (...a) => store.activeTasks(...a),
    bumpSeqs: async (tasks) => {
      calls.bumpSeqs++;
      return store.bumpSeqs(tasks);
    },
  };
  return { calls, queue: q, store: s };
}

function reconciler(d: Pick<ReconcilerDeps, 'queue' | 'store'> & Partial<ReconcilerDeps>, holder = 'w1') {
  return new Reconciler({
    lease: new Lease(stack.database, { name: 'reconciler', holder, ttlMs: 60_000 }),
    logger: silentLogger(),
    intervalMs: 60_000,
    graceMs: 0,
    ...d,
  });
}

async function lostTasks(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
      type: 'demo.echo',
      payload: { j },
    }));
    ids.push(...(await submitBatch(stack, batch)).map((t) => t.id));
  }
  (stack.queue as MemoryQueue).flush(); // what FLUSHALL does to Redis
  return ids;
}

it('repairs a lost queue a page at a time: one seq update and one enqueue per page, not per task', async () => {
  const ids = await lostTasks(1200);
  const c = counted(stack.queue);
  expect(await reconciler({ queue: c.queue, store: c.store, pageSize: 500 }).tick()).toBe(1200);
  expect(c.calls).toEqual({ enqueue: 3, lookup: 3, bumpSeqs: 3, enqueued: 1200 });
  const held = await stack.queue.lookup(ids.map((taskId) => ({ taskId, queue: 'default' })));
  expect(held.size).toBe(1200);
  expect(new Set(held.values())).toEqual(new Set([2])); // each under a new seq
  // Nothing left to repair.
  expect(await reconciler({ queue: c.queue, store: c.store, pageSize: 500 }).tick()).toBe(0);
});

it('bounds a pass, goes on where it stopped at the next, and runs on the lease holder only', async () => {
  await lostTasks(1200);
  const c = counted(stack.queue);
  const a = reconciler({ queue: c.queue, store: c.store, pageSize: 500, maxPagesPerPass: 1 }, 'w1');
  const b = reconciler({ queue: c.queue, store: c.store, pageSize: 500, maxPagesPerPass: 1 }, 'w2');
  expect(await a.tick()).toBe(500);
  expect(await b.tick()).toBe(0); // w1 holds the lease
  expect(await a.tick()).toBe(500);
  expect(await a.tick()).toBe(200);
  const [row] = await stack.database.rows<{ holder: string }>(
    sql`SELECT holder FROM leases WHERE name = 'reconciler'`,
  );
  expect(row!.holder).toBe('w1');
  await a.stop();
  expect(await b.tick()).toBe(0); // b may run now; nothing is left
  expect(c.calls.enqueued).toBe(1200);
});
