import type { RedisClient } from '../redis/client';
import { isCluster } from '../redis/client';
import { inOneTrip, throwFirstError } from '../redis/one-trip';
import { defineLuaScripts, luaScript } from '../redis/lua-scripts';
import type { ScriptCall } from '../redis/lua-scripts';
import acquireLua from './scripts/acquire-flow-n.lua?raw';
import refreshLua from './scripts/refresh-flow-n.lua?raw';
import releaseLua from './scripts/release-flow-n.lua?raw';
import type { FlowGate, FlowRule, FlowWaiter } from './flow-limits';
import { FULL_SLOT_RECHECK_MS, MAX_FLOW_WAITERS, burstOf, waiterFromToken, waiterToken } from './flow-limits';

const FLOW_SCRIPTS = [
  luaScript('acquire-flow-n.lua', acquireLua),
  luaScript('refresh-flow-n.lua', refreshLua),
  luaScript('release-flow-n.lua', releaseLua),
] as const;

type Runner = Record<(typeof FLOW_SCRIPTS)[number]['command'], ScriptCall>;

/**
 * Flow limits enforced in Redis, shared by every worker. The keys of one scope share the hash
 * tag `{prefix:flow:scope}`, so scopes spread over a Redis Cluster's shards. On a single
 * Redis an attempt takes the slots of all its scopes in one script (all or none); on a
 * cluster, scope by scope, giving back the concurrency slots it took when a later scope
 * refuses (a rate token an earlier scope spent stays spent: limits then err on the strict
 * side). A concurrency rule's waiting set (`…:waiting`) sits beside its slots, in its slot.
 */
export class RedisFlowGate implements FlowGate {
  private readonly scripts: Runner;
  private readonly clustered: boolean;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.scripts = defineLuaScripts(redis, FLOW_SCRIPTS);
    this.clustered = isCluster(redis);
  }

  async acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
    waiter?: FlowWaiter,
  ): Promise<{ waitMs: number; now: number }> {
    let now = Date.now();
    const taken: FlowRule[] = [];
    const token = waiter ? waiterToken(waiter) : '';
    for (const group of this.slotGroups(rules)) {
      const keys: string[] = [];
      const waiting: string[] = [];
      const args: (string | number)[] = [];
      for (const r of group) {
        if (r.concurrency !== undefined) {
          keys.push(this.concurrencyKey(r));
          waiting.push(this.waitingKey(r));
          args.push('c', r.concurrency, 0);
        }
        if (r.ratePerSecond !== undefined) {
          keys.push(`${this.tag(r)}:rate`);
          args.push('r', r.ratePerSecond, burstOf(r));
        }
      }
      if (keys.length === 0) continue;
      const [waitMs, at] = (await this.scripts.procAcquireFlow(
        keys.length + waiting.length,
        ...keys,
        ...waiting,
        holder,
        leaseMs,
        token,
        MAX_FLOW_WAITERS,
        FULL_SLOT_RECHECK_MS,
        keys.length,
        ...args,
      )) as [number, number];
      now = Number(at);
      if (Number(waitMs) > 0) {
        // Slots held for an instant: given back without waking anyone.
        await this.giveBack(holder, taken, false);
        return { waitMs: Number(waitMs), now };
      }
      taken.push(...group);
    }
    return { waitMs: 0, now };
  }

  release(holder: string, rules: readonly FlowRule[]): Promise<FlowWaiter[]> {
    return this.giveBack(holder, rules, true);
  }

  private async giveBack(holder: string, rules: readonly FlowRule[], wake: boolean): Promise<FlowWaiter[]> {
    const groups = this.slotGroups(rules.filter((r) => r.concurrency !== undefined));
    if (groups.length === 0) return [];
    const results = await inOneTrip(this.redis, (target) => {
      const runner = target as unknown as Runner;
      for (const group of groups) {
        const keys = [...group.map((r) => this.concurrencyKey(r)), ...group.map((r) => this.waitingKey(r))];
        void runner.procReleaseFlow(keys.length, ...keys, holder, wake ? '1' : '0');
      }
    });
    throwFirstError(results);
    return results.flatMap(([, tokens]) =>
      (tokens as string[]).map(waiterFromToken).filter((w) => w !== null),
    );
  }

  async refresh(
    holders: readonly { holder: string; rules: readonly FlowRule[] }[],
    leaseMs: number,
  ): Promise<void> {
    const byGroup = new Map<string, { keys: string[]; who: string[] }>();
    for (const h of holders) {
      for (const r of h.rules) {
        if (r.concurrency === undefined) continue;
        const group = this.clustered ? r.scope : '';
        const entry = byGroup.get(group) ?? { keys: [], who: [] };
        entry.keys.push(this.concurrencyKey(r));
        entry.who.push(h.holder);
        byGroup.set(group, entry);
      }
    }
    if (byGroup.size === 0) return;
    throwFirstError(
      await inOneTrip(this.redis, (target) => {
        const runner = target as unknown as Runner;
        for (const { keys, who } of byGroup.values())
          void runner.procRefreshFlow(keys.length, ...keys, leaseMs, ...who);
      }),
    );
  }

  /** Rules one script call may take together: all on a single Redis, each scope alone on a cluster. */
  private slotGroups(rules: readonly FlowRule[]): FlowRule[][] {
    if (rules.length === 0) return [];
    return this.clustered ? rules.map((r) => [r]) : [[...rules]];
  }

  private tag(r: FlowRule): string {
    return `{${this.prefix}:flow:${r.scope}}`;
  }

  private concurrencyKey(r: FlowRule): string {
    return `${this.tag(r)}:conc`;
  }

  private waitingKey(r: FlowRule): string {
    return `${this.tag(r)}:waiting`;
  }
}
