import type { BucketState } from '../ratelimit/token-bucket';
import { takeToken } from '../ratelimit/token-bucket';
import type { FlowGate, FlowRule, FlowWaiter } from './flow-limits';
import { FULL_SLOT_RECHECK_MS, MAX_FLOW_WAITERS, burstOf, waiterFromToken, waiterToken } from './flow-limits';

/** The same flow limits in one process, for the memory queue. The clock is injectable. */
export class MemoryFlowGate implements FlowGate {
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly buckets = new Map<string, BucketState>();
  /** Scope → its waiting tasks (by token), in the order they first waited. */
  private readonly waiting = new Map<string, Set<string>>();

  constructor(private readonly clock: () => number = Date.now) {}

  acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
    waiter?: FlowWaiter,
  ): Promise<{ waitMs: number; now: number }> {
    const now = this.clock();
    const token = waiter && waiterToken(waiter);
    let wait = 0;
    const full: string[] = [];
    for (const r of rules) {
      if (r.concurrency !== undefined && this.held(r.scope, now).size >= r.concurrency) {
        wait = Math.max(wait, FULL_SLOT_RECHECK_MS);
        full.push(r.scope);
      }
      if (r.ratePerSecond !== undefined) {
        const look = takeToken(this.buckets.get(r.scope), now, bucketRule(r), 0).decision;
        if (!look.allowed) wait = Math.max(wait, look.retryAfterMs);
      }
    }
    if (wait > 0) {
      if (token)
        for (const scope of full) {
          const waiters = this.waitersOf(scope);
          if (waiters.size < MAX_FLOW_WAITERS) waiters.add(token);
        }
      return Promise.resolve({ waitMs: wait, now });
    }
    for (const r of rules) {
      if (r.concurrency !== undefined) {
        this.held(r.scope, now).set(holder, now + leaseMs);
        if (token) this.waiting.get(r.scope)?.delete(token);
      }
      if (r.ratePerSecond !== undefined) {
        const { next } = takeToken(this.buckets.get(r.scope), now, bucketRule(r), 1);
        if (next) this.buckets.set(r.scope, next);
      }
    }
    return Promise.resolve({ waitMs: 0, now });
  }

  release(holder: string, rules: readonly FlowRule[]): Promise<FlowWaiter[]> {
    const woken: FlowWaiter[] = [];
    for (const r of rules) {
      if (!this.slots.get(r.scope)?.delete(holder)) continue;
      const waiters = this.waiting.get(r.scope);
      const first = waiters?.values().next();
      if (!waiters || !first || first.done) continue;
      waiters.delete(first.value);
      const w = waiterFromToken(first.value);
      if (w) woken.push(w);
    }
    return Promise.resolve(woken);
  }

  refresh(
    holders: readonly { holder: string; rules: readonly FlowRule[] }[],
    leaseMs: number,
  ): Promise<void> {
    const now = this.clock();
    for (const h of holders) {
      for (const r of h.rules)
        if (r.concurrency !== undefined) this.held(r.scope, now).set(h.holder, now + leaseMs);
    }
    return Promise.resolve();
  }

  private waitersOf(scope: string): Set<string> {
    let set = this.waiting.get(scope);
    if (!set) this.waiting.set(scope, (set = new Set<string>()));
    return set;
  }

  /** A scope's live slots, expired ones dropped. */
  private held(scope: string, now: number): Map<string, number> {
    let held = this.slots.get(scope);
    if (!held) this.slots.set(scope, (held = new Map<string, number>()));
    for (const [holder, until] of held) if (until <= now) held.delete(holder);
    return held;
  }
}

function bucketRule(r: FlowRule): { rate: number; burst: number } {
  return { rate: r.ratePerSecond!, burst: burstOf(r) };
}
