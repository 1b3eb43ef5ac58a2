import { setTimeout as sleep } from 'node:timers/promises';
import type { Executor } from './executor';

/** demo.sleep: waits payload.ms, or less when the attempt is aborted. */
export const demoSleep: Executor<{ ms: number }> = async ({ task, signal }) => {
  const started = Date.now();
  await sleep(task.payload.ms, undefined, { signal });
  return { sleptMs: Date.now() - started };
};
