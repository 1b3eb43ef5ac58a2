import type { BucketState } from '../ratelimit/token-bucket';
import { takeToken } from '../ratelimit/token-bucket';
import type { FlowGate, FlowRule } from './flow-limits';
import { burstOf } from './flow-limits';

/** The same flow limits in one process, for the memory queue. The clock is injectable. */
export class MemoryFlowGate implements FlowGate {
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly buckets = new Map<string, BucketState>();

  constructor(private readonly clock: () => number = Date.now) {}

  acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
  ): Promise<{ waitMs: number; now: number }> {
    const now = this.clock();
    let wait = 0;
    for (const r of rules) {
      if (r.concurrency !== undefined && this.held(r.scope, now).size >= r.concurrency) {
        wait = Math.max(wait, 200);
      }
      if (r.ratePerSecond !== undefined) {
        const look = takeToken(this.buckets.get(r.scope), now, bucketRule(r), 0).decision;
        if (!look.allowed) wait = Math.max(wait, look.retryAfterMs);
      }
    }
    if (wait > 0) return Promise.resolve({ waitMs: wait, now });
    for (const r of rules) {
      if (r.concurrency !== undefined) this.held(r.scope, now).set(holder, now + leaseMs);
      if (r.ratePerSecond !== undefined) {
        const { next } = takeToken(this.buckets.get(r.scope), now, bucketRule(r), 1);
        if (next) this.buckets.set(r.scope, next);
      }
    }
    return Promise.resolve({ waitMs: 0, now });
  }

  release(holder: string, rules: readonly FlowRule[]): Promise<void> {
    for (const r of rules) this.slots.get(r.scope)?.delete(holder);
    return Promise.resolve();
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
