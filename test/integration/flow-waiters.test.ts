import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { FlowGate, FlowRule } from '../../lib/flow/flow-limits';
import { FlowLimits, MAX_FLOW_WAITERS } from '../../lib/flow/flow-limits';
import { MemoryFlowGate } from '../../lib/flow/memory-flow-gate';
import { RedisFlowGate } from '../../lib/flow/redis-flow-gate';
import type { Redis } from 'ioredis';
import { deletePrefix, testPrefix, testRedis } from '../helpers/redis';

// A task refused by a full concurrency rule is written down in the rule's waiting set; the
// release of a slot answers what has waited longest, one per slot freed, so the worker can
// wake it at once instead of leaving the slot idle (README "Flow control").

const redisClients: Redis[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  const r = testRedis();
  for (const prefix of prefixes) await deletePrefix(r, prefix);
  r.disconnect();
  for (const c of redisClients) c.disconnect();
});

const gates: { name: string; open: () => Promise<FlowGate> }[] = [
  { name: 'memory', open: () => Promise.resolve(new MemoryFlowGate()) },
  {
    name: 'Redis',
    open: () => {
      const redis = testRedis();
      redisClients.push(redis);
      const prefix = testPrefix('flow');
      prefixes.push(prefix);
      return Promise.resolve(new RedisFlowGate(redis, prefix));
    },
  },
];

const limits = new FlowLimits({ 'queue:q': { concurrency: 1 }, 'type:t': { concurrency: 1 } });
const rules = (type = 'x'): FlowRule[] => limits.rulesFor({ type, queue: 'q', concurrencyKey: null });
const task = (taskId: string) => ({ queue: 'q', taskId, seq: 1 });
const lane = (concurrencyKey: string) => ({ queue: 'q', priority: 'normal' as const, concurrencyKey });
const LEASE = 30_000;

describe.each(gates)('flow waiters on the $name gate', ({ open }) => {
  it('answers, per slot freed, what waited longest: a task, then a key written down once', async () => {
    const gate = await open();
    expect((await gate.acquire('h1', rules(), LEASE, task('a'))).waitMs).toBe(0);
    expect((await gate.acquire('h2', rules(), LEASE, task('b'))).waitMs).toBeGreaterThan(0);
    expect((await gate.acquire('h3', rules(), LEASE, lane('tenant'))).waitMs).toBeGreaterThan(0);
    // The same key refused again (another of its tasks) keeps its place; so does task b.
    expect((await gate.acquire('h4', rules(), LEASE, lane('tenant'))).waitMs).toBeGreaterThan(0);
    expect((await gate.acquire('h5', rules(), LEASE, task('b'))).waitMs).toBeGreaterThan(0);

    // A release that frees nothing (h2 holds no slot) wakes nobody.
    expect(await gate.release('h2', rules())).toEqual([]);
    expect(await gate.release('h1', rules())).toEqual([task('b')]);
    // Woken, b takes the slot; the next release answers the key, then nothing is left.
    expect((await gate.acquire('h6', rules(), LEASE, task('b'))).waitMs).toBe(0);
    expect(await gate.release('h6', rules())).toEqual([lane('tenant')]);
    expect((await gate.acquire('h7', rules(), LEASE, task('c'))).waitMs).toBe(0);
    expect(await gate.release('h7', rules())).toEqual([]);
  });

  it('a task that takes a slot by itself (one freed by an expired lease) is no longer waited for', async () => {
    const gate = await open();
    expect((await gate.acquire('h1', rules(), 50, task('a'))).waitMs).toBe(0);
    expect((await gate.acquire('h2', rules(), LEASE, task('b'))).waitMs).toBeGreaterThan(0);
    await sleep(120); // h1 crashed: its slot frees itself, nobody is woken
    expect((await gate.acquire('h3', rules(), LEASE, task('b'))).waitMs).toBe(0);
    expect((await gate.acquire('h4', rules(), LEASE, task('c'))).waitMs).toBeGreaterThan(0);
    expect(await gate.release('h3', rules())).toEqual([task('c')]);
  });

  it('a task held by two full rules is written down in both', async () => {
    const gate = await open();
    const both = limits.rulesFor({ type: 't', queue: 'q', concurrencyKey: null });
    expect((await gate.acquire('h1', both, LEASE, task('a'))).waitMs).toBe(0);
    expect((await gate.acquire('h2', both, LEASE, task('b'))).waitMs).toBeGreaterThan(0);
    expect(await gate.release('h1', both)).toEqual([task('b'), task('b')]);
  });

  it(`holds at most ${MAX_FLOW_WAITERS} waiters per rule`, async () => {
    const gate = await open();
    const one = limits.rulesFor({ type: 'x', queue: 'q', concurrencyKey: null });
    expect((await gate.acquire('h0', one, LEASE, task('first'))).waitMs).toBe(0);
    const refusals: Promise<{ waitMs: number }>[] = [];
    for (let i = 1; i <= MAX_FLOW_WAITERS + 5; i++)
      refusals.push(gate.acquire(`h${i}`, one, LEASE, task(`w${i}`)));
    expect((await Promise.all(refusals)).every((r) => r.waitMs > 0)).toBe(true);
    // Drained as workers would: each release wakes one, which takes the slot and frees it.
    const woken: string[] = [];
    let holder = 'h0';
    for (;;) {
      const got = await gate.release(holder, one);
      expect(got.length).toBeLessThanOrEqual(1);
      const next = got[0];
      if (!next || !('taskId' in next)) break;
      woken.push(next.taskId);
      holder = `again-${next.taskId}`;
      expect((await gate.acquire(holder, one, LEASE, next)).waitMs).toBe(0);
    }
    expect(woken).toHaveLength(MAX_FLOW_WAITERS);
    expect(new Set(woken).size).toBe(MAX_FLOW_WAITERS);
  });
});
