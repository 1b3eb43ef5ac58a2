import { setTimeout as sleep } from 'node:timers/promises';
import { isTransientDbError } from '../lib/db/transient-errors';
import { backoffDelay } from '../lib/backoff';
import type { Logger } from '../lib/logger';
import type { AttemptAbort } from './attempt-abort';

/** Waits between tries of a write while the database is unreachable: 50 ms doubling to 2 s. */
const WRITE_BACKOFF = { baseMs: 50, maxMs: 2000, jitter: 'none' } as const;

/**
 * Retries a database write while the database is unreachable, with capped exponential
 * backoff, for at most `budgetMs`. Gives up (undefined) when `stop` is aborted for shutdown or
 * a lost lease: a worker that is leaving must not write an outcome, and its message stays
 * pending for another worker.
 * Throws the last error when the budget runs out.
 */
export async function withWriteRetries<T>(
  write: () => Promise<T>,
  stop: AttemptAbort | undefined,
  logger: Logger,
  budgetMs = 60_000,
): Promise<T | undefined> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    if (stop?.reason === 'shutdown' || stop?.reason === 'lease_lost') return undefined;
    try {
      return await write();
    } catch (err) {
      if (!isTransientDbError(err) || Date.now() >= deadline) throw err;
      const delay = backoffDelay(attempt + 1, WRITE_BACKOFF);
      logger.warn({ err, retryInMs: delay }, 'database write failed; retrying');
      await sleep(delay, undefined, { signal: stop?.signal }).catch(() => undefined);
    }
  }
}
