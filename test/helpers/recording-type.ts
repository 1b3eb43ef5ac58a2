import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { RetryableTaskError } from '../../lib/errors';
import { defineTaskType } from '../../lib/catalog/task-type';
import type { TaskType } from '../../lib/catalog/task-type';

/** What a recording executor saw: every start, and the most attempts running at once. */
export class ExecutionLog {
  readonly starts: { taskId: string; attempt: number; at: number }[] = [];
  readonly ends: { taskId: string; attempt: number; at: number }[] = [];
  running = 0;
  maxRunning = 0;

  startsOf(taskId: string): number {
    return this.starts.filter((s) => s.taskId === taskId).length;
  }
}

/** The most attempts of a log that overlapped at one instant (by their starts and ends). */
export function maxOverlap(log: ExecutionLog): number {
  const points = [
    ...log.starts.map((s) => ({ at: s.at, d: 1 })),
    ...log.ends.map((e) => ({ at: e.at, d: -1 })),
  ].sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const p of points) max = Math.max(max, (now += p.d));
  return max;
}

/**
 * A test task type, `test.record`, that sleeps `payload.ms` and records its starts and
 * concurrency in `log`.
 */
export function recordingType(log: ExecutionLog, name = 'test.record'): TaskType {
  return defineTaskType({
    type: name,
    description: 'test: sleeps and records',
    payload: z.strictObject({ ms: z.number().int().min(0).max(60_000).default(0) }),
    async execute({ task, attempt, signal }) {
      log.starts.push({ taskId: task.id, attempt, at: Date.now() });
      log.running++;
      log.maxRunning = Math.max(log.maxRunning, log.running);
      try {
        if (task.payload.ms > 0) await sleep(task.payload.ms, undefined, { signal });
        return { ok: true };
      } finally {
        log.running--;
        log.ends.push({ taskId: task.id, attempt, at: Date.now() });
      }
    },
  });
}

/** What `switchType` counts: runs per task, and whether it still fails. */
export interface SwitchState {
  broken: boolean;
  runs: Map<string, number>;
}

/** All runs of a switch, every task together. */
export function totalRuns(state: SwitchState): number {
  let n = 0;
  for (const r of state.runs.values()) n += r;
  return n;
}

/** `test.switch`: fails (retryable) while `state.broken`, succeeds after; counts runs per task. */
export function switchType(state: SwitchState): TaskType {
  return defineTaskType({
    type: 'test.switch',
    description: 'test',
    payload: z.strictObject({}),
    execute({ task }) {
      state.runs.set(task.id, (state.runs.get(task.id) ?? 0) + 1);
      return state.broken
        ? Promise.reject(new RetryableTaskError('still broken', 'broken'))
        : Promise.resolve('fixed');
    },
  });
}
