import { TRACE_FLAG_SAMPLED, formatTraceparent, newSpanId, newTraceId } from './trace-context';

/**
 * Spans as the rest of Procurator sees them: the submission, each attempt and each callback
 * delivery is one. Two implementations: `noTracing` (no exporter configured: ids only, nothing
 * recorded) and the OpenTelemetry SDK's (otel-tracing.ts). Callers never know which they have:
 * the trace ids and the outbound `traceparent` are the same either way.
 */

/** Where a span hangs: the trace, and the span it is a child of (null: the trace's root). */
export interface SpanParent {
  traceId: string;
  spanId: string | null;
  /** W3C trace flags of the parent (bit 0: sampled). */
  flags: number;
}

export type SpanKindName = 'server' | 'client' | 'consumer' | 'internal';
export type SpanAttributes = Record<string, string | number | boolean>;

export interface SpanOptions {
  kind: SpanKindName;
  attributes?: SpanAttributes;
}

/** A started span. End it exactly once. */
export interface TraceSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: number;
  /** True when the span is recorded and will be exported when it ends. */
  readonly recording: boolean;
  /** The `traceparent` that makes this span the parent of the request carrying it. */
  traceparent(): string;
  setAttribute(name: string, value: string | number | boolean): void;
  /** Marks the span failed, with the error's message. */
  fail(err: unknown): void;
  end(): void;
}

export interface Tracing {
  /** True when spans are exported (an OTLP endpoint is configured). */
  readonly exporting: boolean;
  /** Starts a span under `parent`, or a new trace when null. */
  start(name: string, parent: SpanParent | null, options: SpanOptions): TraceSpan;
  /** Exports what is still buffered and stops; call once, at shutdown. */
  shutdown(): Promise<void>;
}

/**
 * A span that is never recorded: it has ids of its own (outbound requests name it as their
 * parent) and nothing else. What every span is when no exporter is configured.
 */
class IdOnlySpan implements TraceSpan {
  readonly spanId = newSpanId();
  readonly recording = false;

  constructor(
    readonly traceId: string,
    readonly flags: number,
  ) {}

  traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId, this.flags);
  }

  setAttribute(): void {}
  fail(): void {}
  end(): void {}
}

/**
 * Tracing with no exporter: no SDK loaded, nothing buffered, a few random bytes per span. A
 * new trace is marked sampled, so that receivers whose sampling follows their parent's still
 * record their side of it; a parent's flags are passed on as they came.
 */
export const noTracing: Tracing = {
  exporting: false,
  start: (_name, parent) =>
    parent ? new IdOnlySpan(parent.traceId, parent.flags) : new IdOnlySpan(newTraceId(), TRACE_FLAG_SAMPLED),
  shutdown: () => Promise.resolve(),
};
