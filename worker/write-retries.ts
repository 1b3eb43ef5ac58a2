import { setTimeout as sleep } from 'node:timers/promises';
import { isTransientDbError } from '../lib/db/transient-errors';
import type { Logger } from '../lib/logger';

/**
 * Retries a database write while the database is unreachable, with capped exponential
 * backoff, for at most `budgetMs`. Gives up (undefined) when `signal` fires: a worker that is
 * leaving must not write an outcome, and its message stays pending for another worker.
 * Throws the last error when the budget runs out.
 */
export async function withWriteRetries<T>(
  write: () => Promise<T>,
  signal: AbortSignal | undefined,
  logger: Logger,
  budgetMs = 60_000,
): Promise<T | undefined> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted && (signal.reason === 'shutdown' || signal.reason === 'lease_lost')) return undefined;
    try {
      return await write();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() >= deadline) throw err;
      const delay = Math.min(2000, 50 * 2 ** attempt);
      logger.warn({ err, retryInMs: delay }, 'database write failed; retrying');
      await sleep(delay, undefined, { signal }).catch(() => undefined);
    }
  }
}
