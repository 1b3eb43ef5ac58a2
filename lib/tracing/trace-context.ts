import { pooledRandomBytes } from '../ids';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header that
 * names a trace and the span a request belongs to, as Procurator reads it from submitters
 * and writes it on its own outbound requests. Nothing here needs an OpenTelemetry SDK: the
 * ids travel whether or not spans are exported.
 */

/** A span context as `traceparent` carries it. */
export interface TraceParent {
  /** 32 lowercase hex characters, not all zero. */
  traceId: string;
  /** 16 lowercase hex characters, not all zero: the caller's span. */
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  flags: number;
}

export const TRACE_FLAG_SAMPLED = 0x01;

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** version-traceid-parentid-flags, lowercase hex only (the specification refuses uppercase). */
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
/** The length of a version 00 header, and of the part every later version starts with. */
const V00_LENGTH = 55;

/**
 * Reads a `traceparent` header; null when it is absent or malformed (the specification's
 * rule: a receiver that cannot parse it starts a new trace, it does not refuse the request).
 * Version 00 must be exactly 55 characters. A later version (01-fe) is read by its first
 * four fields when what follows them starts with "-", as the specification asks; version ff
 * is invalid. All-zero ids are invalid.
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | null {
  if (!header) return null;
  const value = header.trim();
  const m = TRACEPARENT_RE.exec(value);
  if (!m) return null;
  const [, version, traceId, spanId, flags] = m as unknown as [string, string, string, string, string];
  if (version === 'ff') return null;
  if (version === '00' ? value.length !== V00_LENGTH : value.length > V00_LENGTH && value[V00_LENGTH] !== '-')
    return null;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return null;
  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** The version 00 `traceparent` naming `spanId` of `traceId` as the parent. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** True for 32 lowercase hex characters, not all zero. */
export function isTraceId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value) && value !== ZERO_TRACE_ID;
}

/** True for 16 lowercase hex characters, not all zero. */
export function isSpanId(value: string): boolean {
  return /^[0-9a-f]{16}$/.test(value) && value !== ZERO_SPAN_ID;
}

/**
 * A new random trace id. From the same pool of random bytes as task ids: one kernel call per
 * few hundred ids, so the tracing-off path costs a buffer read per task.
 */
export function newTraceId(): string {
  for (;;) {
    const id = pooledRandomBytes(16).toString('hex');
    if (id !== ZERO_TRACE_ID) return id;
  }
}

/** A new random span id. */
export function newSpanId(): string {
  for (;;) {
    const id = pooledRandomBytes(8).toString('hex');
    if (id !== ZERO_SPAN_ID) return id;
  }
}
