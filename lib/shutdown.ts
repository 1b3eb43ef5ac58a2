import type { Logger } from './logger';

/**
 * Runs `shutdown` on the first SIGTERM or SIGINT; a second signal forces exit. One deadline
 * for the whole shutdown is armed at the signal, not after `shutdown` returns: whatever hangs
 * (a write to an unreachable database, a client that does not close), the process exits by
 * `deadlineMs` after the signal — with 1, and saying what still held it. A clean shutdown
 * exits by itself once every handle is closed (the watchdog is unref'd, so it does not keep
 * the process alive).
 */
export function onShutdownSignals(logger: Logger, shutdown: () => Promise<void>, deadlineMs: number): void {
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    started = true;
    logger.info({ signal, deadlineMs }, 'shutting down');
    setTimeout(() => {
      logger.error(
        { deadlineMs, resources: process.getActiveResourcesInfo() },
        'shutdown deadline passed: exiting with what still holds the process',
      );
      process.exit(1);
    }, deadlineMs).unref();
    shutdown()
      .then(() => {
        logger.info('shutdown complete');
        process.exitCode = 0;
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * What a shutdown may take after its attempts' grace period: stopping the helpers, leaving
 * the consumer group, closing clients. Past it, the process exits regardless.
 */
export const SHUTDOWN_CLOSE_MS = 4000;
