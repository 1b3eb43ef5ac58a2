import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Looks at `check` every 20 ms until it holds, for what another process or loop does in its
 * own time (instead of sleeping a fixed time and hoping); throws naming `what` after `timeoutMs`.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
