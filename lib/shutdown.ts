import type { Logger } from './logger';

/**
 * Runs `shutdown` on the first SIGTERM or SIGINT; a second signal forces exit. After a clean
 * shutdown the process exits by itself once every handle is closed; a watchdog (unref'd, so
 * it does not keep the process alive) exits with 1 and says so if something still holds it.
 */
export function onShutdownSignals(logger: Logger, shutdown: () => Promise<void>, watchdogMs = 10_000): void {
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    started = true;
    logger.info({ signal }, 'shutting down');
    shutdown()
      .then(() => {
        logger.info('shutdown complete');
        process.exitCode = 0;
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      })
      .finally(() => {
        setTimeout(() => {
          logger.error(
            { resources: process.getActiveResourcesInfo() },
            'still not exited after shutdown: something holds the event loop',
          );
          process.exit(1);
        }, watchdogMs).unref();
      });
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
