import { TRACE_FLAG_SAMPLED, newTraceId } from '../tracing/trace-context';
import type { TraceParent } from '../tracing/trace-context';
import type { SpanParent, TraceSpan } from '../tracing/tracing';
import type { TaskRecord } from './task';

/**
 * The trace a task keeps from its submission to its last callback (README "Tracing"): its
 * attempts and callback deliveries are spans of that trace, children of `parentSpanId`.
 */
export type TaskTrace = Pick<TaskRecord, 'traceId' | 'parentSpanId' | 'traceFlags'>;

/**
 * What a task submitted under `span` keeps. Its attempts hang under the submission span when
 * that span is exported; otherwise under the submitter's own span (the `traceparent` it
 * sent), and with neither they are the roots of the trace: a parent id must name a span a
 * trace backend can find, never one that was not recorded.
 */
export function submittedTrace(span: TraceSpan, incoming: TraceParent | null): TaskTrace {
  return {
    traceId: span.traceId,
    parentSpanId: span.recording ? span.spanId : (incoming?.spanId ?? null),
    traceFlags: span.flags,
  };
}

/** A trace of its own, for a task submitted by no traced request. */
export function newTaskTrace(): TaskTrace {
  return { traceId: newTraceId(), parentSpanId: null, traceFlags: TRACE_FLAG_SAMPLED };
}

/** Where the spans of a task's attempts and deliveries hang. */
export function spanParentOf(t: TaskTrace): SpanParent {
  return { traceId: t.traceId, spanId: t.parentSpanId, flags: t.traceFlags };
}
