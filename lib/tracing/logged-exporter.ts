import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../logger';

/** At most one warning this often: a collector that is down must not flood the log. */
const WARN_EVERY_MS = 60_000;

/**
 * An exporter that says when spans are lost. The SDK drops a failed batch silently (its own
 * diagnostics go to a global logger nobody reads); an operator should learn from our log that
 * the collector is unreachable. Export never touches tasks: a failure costs spans, nothing else.
 */
export function loggedExporter(
  inner: SpanExporter,
  logger: Logger,
  endpoint: string,
  now: () => number = Date.now,
): SpanExporter {
  let lastWarning = -Infinity;
  let lost = 0;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
      inner.export(spans, (result) => {
        // ExportResultCode.SUCCESS is 0. Compared by value: importing the enum would load
        // @opentelemetry/core into every process, tracing on or off.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-comparison
        if (result.code !== 0) {
          lost += spans.length;
          if (now() - lastWarning >= WARN_EVERY_MS) {
            lastWarning = now();
            logger.warn({ err: result.error, endpoint, spansLost: lost }, 'spans not exported');
            lost = 0;
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}
