import { pino } from 'pino';
import type { Logger as PinoLogger, DestinationStream } from 'pino';

export type Logger = PinoLogger;

/**
 * JSON lines on stdout. Fields that could carry secrets are redacted wherever they appear,
 * so a token passed by mistake into a log call never reaches the output.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'procurator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: [
          'token',
          '*.token',
          'headers["x-api-token"]',
          'headers.authorization',
          '*.headers["x-api-token"]',
          '*.headers.authorization',
          'password',
          '*.password',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A child logger made on first use. pino's child() runs redaction over the bindings; on paths
 * taken by every request or task, most of which never log, that cost is paid for nothing.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const noop = () => undefined;
  return new Proxy({} as Logger, {
    get(_, prop) {
      // A call at a disabled level (debug, usually) needs no child at all.
      if (typeof prop === 'string' && prop in parent.levels.values && !parent.isLevelEnabled(prop))
        return noop;
      child ??= parent.child(bindings);
      const value = Reflect.get(child, prop, child) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(child) : value;
    },
  });
}
