import type { FlowGate, FlowRule } from './flow-limits';
import { burstOf } from './flow-limits';

/** The same flow limits in one process, for the memory queue. The clock is injectable. */
export class MemoryFlowGate implements FlowGate {
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();

  constructor(private readonly clock: () => number = Date.now) {}

  acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
  ): Promise<{ waitMs: number; now: number }> {
    const now = this.clock();
    let wait = 0;
    const refilled = new Map<string, number>();
    for (const r of rules) {
      if (r.concurrency !== undefined) {
        const held = this.held(r.scope, now);
        if (!held.has(holder) && held.size >= r.concurrency) wait = Math.max(wait, 200);
      }
      if (r.ratePerSecond !== undefined) {
        const b = this.buckets.get(r.scope) ?? { tokens: burstOf(r), ts: now };
        const tokens = Math.min(burstOf(r), b.tokens + (Math.max(0, now - b.ts) * r.ratePerSecond) / 1000);
        refilled.set(r.scope, tokens);
        if (tokens < 1) wait = Math.max(wait, Math.ceil(((1 - tokens) * 1000) / r.ratePerSecond));
      }
    }
    if (wait > 0) return Promise.resolve({ waitMs: wait, now });
    for (const r of rules) {
      if (r.concurrency !== undefined) this.held(r.scope, now).set(holder, now + leaseMs);
      if (r.ratePerSecond !== undefined)
        this.buckets.set(r.scope, { tokens: refilled.get(r.scope)! - 1, ts: now });
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
      for (const r of h.rules) {
        const held = this.slots.get(r.scope);
        if (held?.has(h.holder)) held.set(h.holder, now + leaseMs);
      }
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
