import { describe, expect, it } from 'vitest';
import {
  formatTraceparent,
  isSpanId,
  isTraceId,
  newSpanId,
  newTraceId,
  parseTraceparent,
} from '../../lib/tracing/trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  it('reads a version 00 header: trace id, parent span id and flags', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 0 });
    // Optional whitespace around a header value is not part of it.
    expect(parseTraceparent(`  ${VALID}\t`)?.traceId).toBe(TRACE);
  });

  it('reads a later version by its first four fields, as the specification asks', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, flags: 1 });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-09-what-the-future-holds`)).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      flags: 9,
    });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeNull();
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['garbage', 'not a traceparent'],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['a long trace id', `00-${TRACE}0-${SPAN}-01`],
    ['a short span id', `00-${TRACE}-${SPAN.slice(1)}-01`],
    ['a long span id', `00-${TRACE}-${SPAN}0-01`],
    ['one-digit flags', `00-${TRACE}-${SPAN}-1`],
    ['version 00 with more after it', `${VALID}-extra`],
    ['version 00 with a trailing character', `${VALID}0`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['an uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['an uppercase span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`],
    ['an uppercase version', `0A-${TRACE}-${SPAN}-01`],
    ['non-hex characters', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['another separator', `00_${TRACE}_${SPAN}_01`],
    ['two headers joined by a comma', `${VALID},${VALID}`],
  ])('ignores %s', (_what, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });
});

describe('formatTraceparent and new ids', () => {
  it('writes version 00 with two-digit flags, and reads back what it wrote', () => {
    expect(formatTraceparent(TRACE, SPAN, 1)).toBe(VALID);
    expect(formatTraceparent(TRACE, SPAN, 0)).toBe(`00-${TRACE}-${SPAN}-00`);
    const traceId = newTraceId();
    const spanId = newSpanId();
    expect(parseTraceparent(formatTraceparent(traceId, spanId, 1))).toEqual({ traceId, spanId, flags: 1 });
  });

  it('makes valid, distinct ids', () => {
    const traces = new Set(Array.from({ length: 1000 }, newTraceId));
    const spans = new Set(Array.from({ length: 1000 }, newSpanId));
    expect(traces.size).toBe(1000);
    expect(spans.size).toBe(1000);
    expect([...traces].every(isTraceId)).toBe(true);
    expect([...spans].every(isSpanId)).toBe(true);
    expect(isTraceId('0'.repeat(32))).toBe(false);
    expect(isSpanId(SPAN.toUpperCase())).toBe(false);
  });
});
