import { z } from 'zod';
import type { HeldBack, QueueMessage } from '../queue/queue-backend';
import type { Priority } from '../tasks/task';

/**
 * Flow limits across every worker, configured in one place (FLOW_LIMITS): for a task type, a
 * queue, or each concurrency key of a queue (`key:<queue>`), at most `concurrency` attempts at
 * once and/or at most `ratePerSecond` starts a second (token bucket, `burst` deep). Tasks over
 * a limit wait; they are not failed and spend no attempt.
 */
export interface FlowRule {
  /**
   * What the gate counts under: `type:<task type>`, `queue:<queue name>`, or for a key-scoped
   * rule `key:<queue>:<concurrency key>` (each key its own counter).
   */
  scope: string;
  /** The scope as configured (`key:<queue>` for every key of it): the metric's label. */
  configured?: string;
  concurrency?: number;
  ratePerSecond?: number;
  burst?: number;
}

const ruleSchema = z
  .strictObject({
    concurrency: z.number().int().min(1).max(100_000).optional(),
    ratePerSecond: z.number().positive().max(1_000_000).optional(),
    burst: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((r) => r.concurrency !== undefined || r.ratePerSecond !== undefined, {
    error: 'needs concurrency or ratePerSecond',
  });

export const flowLimitsSchema = z.record(
  z.string().regex(/^(type|queue|key):[A-Za-z0-9_.-]{1,200}$/),
  ruleSchema,
);

/** The rules by scope, ready to look up per message. */
export class FlowLimits {
  private readonly byScope: Map<string, FlowRule>;

  constructor(config: Record<string, z.output<typeof ruleSchema>>) {
    this.byScope = new Map(Object.entries(config).map(([scope, r]) => [scope, { scope, ...r }]));
  }

  get empty(): boolean {
    return this.byScope.size === 0;
  }

  /** The rules a message falls under: its type's, its queue's, and its key's in its queue. */
  rulesFor(message: Pick<QueueMessage, 'type' | 'queue' | 'concurrencyKey'>): FlowRule[] {
    const out: FlowRule[] = [];
    const byType = this.byScope.get(`type:${message.type}`);
    const byQueue = this.byScope.get(`queue:${message.queue}`);
    const byKey = message.concurrencyKey ? this.byScope.get(`key:${message.queue}`) : undefined;
    if (byType) out.push(byType);
    if (byQueue) out.push(byQueue);
    if (byKey)
      out.push({ ...byKey, scope: `${byKey.scope}:${message.concurrencyKey}`, configured: byKey.scope });
    return out;
  }

  all(): FlowRule[] {
    return [...this.byScope.values()];
  }
}

/** The effective burst of a rate rule: as configured, else one second's worth (at least 1). */
export function burstOf(rule: FlowRule): number {
  return rule.burst ?? Math.max(1, Math.ceil(rule.ratePerSecond ?? 1));
}

/**
 * What a full concurrency rule refused, as the rule's waiting set keeps it (a task, or a
 * key's lane: one entry per key, so keys are woken in turn): whoever frees a slot of the rule
 * wakes what has waited longest (README "Flow control").
 */
export type FlowWaiter = HeldBack;

/**
 * How many waiters a rule's waiting set holds at most; beyond it a waiter is not written down
 * and only finds a slot when it looks again by itself.
 */
export const MAX_FLOW_WAITERS = 10_000;

/**
 * How soon a task refused by a full concurrency rule looks again by itself. Slots free when
 * attempts end, which nobody can predict; a release wakes the longest waiter before this.
 */
export const FULL_SLOT_RECHECK_MS = 500;

/**
 * A waiter as the gates store it: `queue|taskId|seq` for a task, `queue|priority:key` for a
 * key's lane (queue names, task ids and priorities hold no `|` or `:`, keys no `|`).
 */
export function waiterToken(w: FlowWaiter): string {
  return 'taskId' in w ? `${w.queue}|${w.taskId}|${w.seq}` : `${w.queue}|${w.priority}:${w.concurrencyKey}`;
}

export function waiterFromToken(token: string): FlowWaiter | null {
  const parts = token.split('|');
  const queue = parts[0];
  if (!queue) return null;
  if (parts.length === 3) {
    const [, taskId, seq] = parts;
    return taskId && seq && /^\d+$/.test(seq) ? { queue, taskId, seq: Number(seq) } : null;
  }
  const lane = /^(high|normal|low):(.+)$/.exec(parts[1] ?? '');
  if (parts.length !== 2 || !lane) return null;
  return { queue, priority: lane[1] as Priority, concurrencyKey: lane[2]! };
}

/** Decides whether an attempt may start now under its flow rules. */
export interface FlowGate {
  /**
   * Takes a slot of every rule for `holder` (all or none). Answers 0 when taken, else how
   * long to wait (ms) before asking again, with the gate's clock (`now`, epoch ms). Refused
   * by a full concurrency rule, `waiter` is written down in that rule's waiting set.
   */
  acquire(
    holder: string,
    rules: readonly FlowRule[],
    leaseMs: number,
    waiter?: FlowWaiter,
  ): Promise<{ waitMs: number; now: number }>;
  /**
   * Gives the concurrency slots back, and answers, one per slot freed, the tasks that have
   * waited longest for them (taken off their waiting sets): the caller wakes them.
   */
  release(holder: string, rules: readonly FlowRule[]): Promise<FlowWaiter[]>;
  /** Extends the slots of attempts still running (their holder crashed otherwise). */
  refresh(holders: readonly { holder: string; rules: readonly FlowRule[] }[], leaseMs: number): Promise<void>;
}
