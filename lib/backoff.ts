/**
 * The one backoff: the wait after the n-th failure in a row (n ≥ 1) is base·2^(n-1), capped
 * at max, then jittered. Every retry loop of Procurator takes its waits from here:
 * - `full` (a uniform wait in [0, ceiling)): task retries, so that a burst of failures
 *   spreads out instead of coming back in lockstep;
 * - `equal` (between half and all of the ceiling): callback deliveries, spread but with a
 *   predictable schedule;
 * - `none`: a process's own reconnect and re-read loops, where only this process waits.
 */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  jitter: 'none' | 'full' | 'equal';
}

export function backoffDelay(failures: number, b: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
  switch (b.jitter) {
    case 'none':
      return ceiling;
    case 'full':
      return Math.floor(random() * ceiling);
    case 'equal':
      return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
  }
}
