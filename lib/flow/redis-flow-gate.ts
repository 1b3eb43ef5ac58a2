import type { Redis } from 'ioredis';
import { defineLuaScripts, luaScript } from '../redis/lua-scripts';
import type { ScriptCall } from '../redis/lua-scripts';
import acquireLua from './scripts/acquire-flow-n.lua?raw';
import refreshLua from './scripts/refresh-flow-n.lua?raw';
import releaseLua from './scripts/release-flow-n.lua?raw';
import type { FlowGate, FlowRule } from './flow-limits';
import { burstOf } from './flow-limits';

const FLOW_SCRIPTS = [
  luaScript('acquire-flow-n.lua', acquireLua),
  luaScript('refresh-flow-n.lua', refreshLua),
  luaScript('release-flow-n.lua', releaseLua),
] as const;

type Runner = Record<(typeof FLOW_SCRIPTS)[number]['command'], ScriptCall>;

/** Flow limits enforced in Redis, shared by every worker (keys under the `{prefix}` tag). */
export class RedisFlowGate implements FlowGate {
  private readonly scripts: Runner;
  private readonly tag: string;

  constructor(redis: Redis, prefix: string) {
    this.tag = `{${prefix}}`;
    this.scripts = defineLuaScripts(redis, FLOW_SCRIPTS);
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
    const [waitMs, now] = (await this.scripts.procAcquireFlow(keys.length, ...keys, ...args)) as [
      number,
      number,
    ];
    return { waitMs: Number(waitMs), now: Number(now) };
  }

  async release(holder: string, rules: readonly FlowRule[]): Promise<void> {
    const keys = rules.filter((r) => r.concurrency !== undefined).map((r) => this.concurrencyKey(r));
    if (keys.length > 0) await this.scripts.procReleaseFlow(keys.length, ...keys, holder);
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
    if (keys.length > 0) await this.scripts.procRefreshFlow(keys.length, ...keys, leaseMs, ...who);
  }

  private concurrencyKey(r: FlowRule): string {
    return `${this.tag}:flow:conc:${r.scope}`;
  }
}
