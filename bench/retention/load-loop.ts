import { percentile } from '../peers/stats';

export interface LoadFigures {
  count: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Runs `step` in `concurrency` loops until `until` resolves, timing each call: the latency a
 * client sees while something else (a pruner pass) runs, or nothing does.
 */
export async function loadWhile(
  concurrency: number,
  step: () => Promise<unknown>,
  until: Promise<unknown>,
): Promise<LoadFigures> {
  const times: number[] = [];
  let done = false;
  void until.finally(() => (done = true));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!done) {
        const s = performance.now();
        await step();
        times.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return {
    count: times.length,
    perSecond: times.length / seconds,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
