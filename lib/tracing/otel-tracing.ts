import type { Span, SpanKind, Tracer } from '@opentelemetry/api';
import type { IdGenerator, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { coerceError } from '../errors';
import { newSpanId, newTraceId } from './trace-context';
import type { SpanKindName, SpanOptions, SpanParent, TraceSpan, Tracing } from './tracing';

/**
 * Tracing through the OpenTelemetry SDK: a tracer provider of our own (not the global one —
 * nothing else in the process is instrumented, and a global would make every test share it)
 * and the given exporter. The sampler is the SDK's choice from OTEL_TRACES_SAMPLER, by default
 * parent-based: a caller that did not sample its trace gets nothing of it recorded. Every OpenTelemetry module is imported when
 * this is built (the bundle keeps dynamic imports of packages lazy), so a process with tracing
 * off never loads one.
 */
export interface OtelTracingOptions {
  exporter: SpanExporter;
  serviceName: string;
  serviceVersion: string;
  /**
   * Batch spans (the SDK's BatchSpanProcessor, which reads the standard OTEL_BSP_* variables),
   * or hand each to the exporter as it ends (tests with an in-memory exporter).
   */
  batch?: boolean;
  /** How long shutdown() waits for the last export (default 10 s). */
  shutdownTimeoutMs?: number;
}

/**
 * The SDK's id generator, told the trace id of a span whose trace is known but has no parent
 * span (a task stored with a trace id only): the SDK takes a new trace's id from its
 * generator, and startSpan calls it synchronously, so a value set just before is the one used.
 */
class Ids implements IdGenerator {
  nextTraceId: string | undefined;

  generateTraceId(): string {
    const id = this.nextTraceId ?? newTraceId();
    this.nextTraceId = undefined;
    return id;
  }

  generateSpanId(): string {
    return newSpanId();
  }
}

class OtelSpan implements TraceSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
  readonly recording: boolean;

  constructor(
    private readonly span: Span,
    private readonly errorCode: number,
  ) {
    const c = span.spanContext();
    this.traceId = c.traceId;
    this.spanId = c.spanId;
    this.flags = c.traceFlags;
    this.recording = span.isRecording();
  }

  traceparent(): string {
    return `00-${this.traceId}-${this.spanId}-${this.flags.toString(16).padStart(2, '0')}`;
  }

  setAttribute(name: string, value: string | number | boolean): void {
    this.span.setAttribute(name, value);
  }

  fail(err: unknown): void {
    const e = coerceError(err);
    this.span.recordException(e);
    this.span.setStatus({ code: this.errorCode, message: e.message });
  }

  end(): void {
    this.span.end();
  }
}

/** Tracing that records spans and hands them to `exporter`. */
export async function otelTracing(o: OtelTracingOptions): Promise<Tracing> {
  const [api, sdk, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
  ]);
  const kinds: Record<SpanKindName, SpanKind> = {
    server: api.SpanKind.SERVER,
    client: api.SpanKind.CLIENT,
    consumer: api.SpanKind.CONSUMER,
    internal: api.SpanKind.INTERNAL,
  };
  const ids = new Ids();
  const processor =
    o.batch === false ? new sdk.SimpleSpanProcessor(o.exporter) : new sdk.BatchSpanProcessor(o.exporter);
  const provider = new sdk.BasicTracerProvider({
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        'service.name': o.serviceName,
        'service.version': o.serviceVersion,
      }),
    ),
    idGenerator: ids,
    spanProcessors: [processor],
  });
  const tracer: Tracer = provider.getTracer('procurator', o.serviceVersion);
  const shutdownTimeoutMs = o.shutdownTimeoutMs ?? 10_000;
  let stopped: Promise<void> | undefined;
  return {
    exporting: true,
    start(name: string, parent: SpanParent | null, options: SpanOptions): TraceSpan {
      let context = api.ROOT_CONTEXT;
      if (parent?.spanId) {
        // The parent was made by another process (the submitter, or the API for a worker).
        context = api.trace.setSpanContext(api.ROOT_CONTEXT, {
          traceId: parent.traceId,
          spanId: parent.spanId,
          traceFlags: parent.flags,
          isRemote: true,
        });
      } else if (parent) {
        ids.nextTraceId = parent.traceId;
      }
      try {
        return new OtelSpan(
          tracer.startSpan(name, { kind: kinds[options.kind], attributes: options.attributes }, context),
          api.SpanStatusCode.ERROR,
        );
      } finally {
        ids.nextTraceId = undefined;
      }
    },
    shutdown() {
      // Bounded: a collector that does not answer must not hold the process past its deadline.
      // Never rejects: spans that cannot be exported (logged by the exporter) must not fail
      // the process's shutdown.
      stopped ??= Promise.race([
        provider.shutdown().catch(() => undefined),
        new Promise<void>((resolve) => setTimeout(resolve, shutdownTimeoutMs).unref()),
      ]);
      return stopped;
    },
  };
}
