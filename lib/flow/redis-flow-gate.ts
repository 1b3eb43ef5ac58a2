import type { Redis } from 'ioredis';
import acquireLua from './scripts/acquire-flow-n.lua?raw';
import refreshLua from './scripts/refresh-flow-n.lua?raw';
import releaseLua from './scripts/release-flow-n.lua?raw';
import type { FlowGate, FlowRule } from './flow-limits';
import { burstOf } from './flow-limits';

type Runner = Record<
  'procFlowAcquire' | 'procFlowRelease' | 'procFlowRefresh',
  (...a: (string | number)[]) => Promise<unknown>
>;

/** Flow limits enforced in Redis, shared by every worker (keys under the `{prefix}` tag). */
export class RedisFlowGate implements FlowGate {
  private readonly scripts: Runner;
  private readonly tag: string;

  constructor(redis: Redis, prefix: string) {
    this.tag = `{${prefix}}`;
    redis.defineCommand('procFlowAcquire', { lua: acquireLua });
    redis.defineCommand('procFlowRelease', { lua: releaseLua });
    redis.defineCommand('procFlowRefresh', { lua: refreshLua });
    this.scripts = redis as unknown as Runner;
  }

  async acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
  ): Promise<{ waitMs: number; now: number }> {
    const keys: string[] = [];
    const args: (string | number)[] = [holder, leaseMs];
    for (const r of rules) {
      if (r.concurrency !== undefined) {
        keys.push(this.concurrencyKey(r));
        args.push('c', r.concurrency, 0);
      }
      if (r.ratePerSecond !== undefined) {
        keys.push(`${this.tag}:flow:rate:${r.scope}`);
        args.push('r', r.ratePerSecond, burstOf(r));
      }
    }
    if (keys.length === 0) return { waitMs: 0, now: Date.now() };
    const [waitMs, now] = (await this.scripts.procFlowAcquire(keys.length, ...keys, ...args)) as [
      number,
      number,
    ];
    return { waitMs: Number(waitMs), now: Number(now) };
  }

  async release(holder: string, rules: readonly FlowRule[]): Promise<void> {
    const keys = rules.filter((r) => r.concurrency !== undefined).map((r) => this.concurrencyKey(r));
    if (keys.length > 0) await this.scripts.procFlowRelease(keys.length, ...keys, holder);
  }

  async refresh(
    holders: readonly { holder: string; rules: readonly FlowRule[] }[],
    leaseMs: number,
  ): Promise<void> {
    const keys: string[] = [];
    const who: string[] = [];
    for (const h of holders) {
      for (const r of h.rules) {
        if (r.concurrency === undefined) continue;
        keys.push(this.concurrencyKey(r));
        who.push(h.holder);
      }
    }
    if (keys.length > 0) await this.scripts.procFlowRefresh(keys.length, ...keys, leaseMs, ...who);
  }

  private concurrencyKey(r: FlowRule): string {
    return `${this.tag}:flow:conc:${r.scope}`;
  }
}
