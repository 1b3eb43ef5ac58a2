import type { Config } from '../config';
import type { Logger } from '../logger';
import { VERSION } from '../version';
import { loggedExporter } from './logged-exporter';
import { otelTracing } from './otel-tracing';
import { noTracing } from './tracing';
import type { Tracing } from './tracing';

export type TracingSettings = Pick<
  Config,
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_EXPORTER_OTLP_TIMEOUT'
>;

/**
 * Where spans go, by the OpenTelemetry rule: the traces endpoint as given, else the general
 * endpoint with `v1/traces` appended. Null when neither is set: tracing is off.
 */
export function tracesUrl(s: TracingSettings): string | null {
  if (s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (!s.OTEL_EXPORTER_OTLP_ENDPOINT) return null;
  const base = s.OTEL_EXPORTER_OTLP_ENDPOINT;
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

/**
 * How much longer a shutdown may take with tracing on: the last export, which a collector
 * that does not answer holds for the whole export timeout (the SDK's retries and its request
 * keep the process alive until then, so the deadline must cover it).
 */
export function tracingShutdownMs(settings: TracingSettings): number {
  return tracesUrl(settings) ? settings.OTEL_EXPORTER_OTLP_TIMEOUT : 0;
}

/**
 * The process's tracing: with an OTLP endpoint, the OpenTelemetry SDK exporting over OTLP/HTTP
 * (protobuf or JSON); without one, `noTracing` — no SDK loaded, no exporter, nothing buffered.
 * The exporter's other standard settings (OTEL_EXPORTER_OTLP_HEADERS, _COMPRESSION, the
 * OTEL_BSP_* batch limits) are read by the SDK itself.
 */
export async function openTracing(settings: TracingSettings, logger: Logger): Promise<Tracing> {
  const url = tracesUrl(settings);
  if (!url) return noTracing;
  const protocol = settings.OTEL_EXPORTER_OTLP_PROTOCOL;
  const options = { url, timeoutMillis: settings.OTEL_EXPORTER_OTLP_TIMEOUT };
  const exporter =
    protocol === 'http/json'
      ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(options)
      : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(options);
  const tracing = await otelTracing({
    exporter: loggedExporter(exporter, logger, url),
    serviceName: settings.OTEL_SERVICE_NAME ?? 'procurator',
    serviceVersion: VERSION,
    shutdownTimeoutMs: settings.OTEL_EXPORTER_OTLP_TIMEOUT,
  });
  logger.info({ endpoint: url, protocol }, 'tracing: spans exported over OTLP/HTTP');
  return tracing;
}
