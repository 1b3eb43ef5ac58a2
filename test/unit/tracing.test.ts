import { setTimeout as sleep } from 'node:timers/promises';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { otelTracing } from '../../lib/tracing/otel-tracing';
import { parseTraceparent } from '../../lib/tracing/trace-context';
import type { Tracing } from '../../lib/tracing/tracing';
import { captureLogger } from '../helpers/log-capture';
import type { RequestRecorder } from '../helpers/request-recorder';
import { startRequestRecorder } from '../helpers/request-recorder';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

/**
 * Trace context through the in-process stack (memory queue, PGlite): the SDK's own tracer
 * with an in-memory exporter, a target for `http` tasks and a callback receiver on 127.0.0.1.
 * The OTLP export itself, between real processes, is test/integration/tracing-otlp.test.ts.
 */

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const CALLER = `00-${TRACE}-${CALLER_SPAN}-01`;

let target: RequestRecorder;
beforeAll(async () => {
  target = await startRequestRecorder();
});
afterAll(async () => {
  await target?.close();
});

async function submit(stack: Stack, body: unknown, headers: Record<string, string> = {}): Promise<TaskView> {
  const res = await stack.request('POST', '/v1/tasks', { body, headers });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

describe('tracing with an exporter', () => {
  let exporter: InMemorySpanExporter;
  let tracing: Tracing;
  let stack: Stack;
  const log = captureLogger('info');

  beforeAll(async () => {
    exporter = new InMemorySpanExporter();
    tracing = await otelTracing({
      exporter,
      serviceName: 'procurator-test',
      serviceVersion: 'test',
      batch: false,
    });
    stack = await startStack({
      tracing,
      logger: log.logger,
      config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
      callbacks: { intervalMs: 50 },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await tracing?.shutdown();
  });

  /** The ended span named `name` in `traceId`, once it has ended. */
  async function span(name: string, traceId: string): Promise<ReadableSpan> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const hit = exporter
        .getFinishedSpans()
        .find((s) => s.name === name && s.spanContext().traceId === traceId);
      if (hit) return hit;
      if (Date.now() > deadline) {
        const seen = exporter.getFinishedSpans().map((s) => `${s.name} ${s.spanContext().traceId}`);
        throw new Error(`no span ${name} in trace ${traceId}; seen: ${seen.join(', ')}`);
      }
      await sleep(20);
    }
  }

  it('keeps the submitted trace: submission → attempt → outbound request, and → callback', async () => {
    const task = await submit(
      stack,
      {
        type: 'http',
        payload: { url: `${target.url}/target/chain`, method: 'GET' },
        callbackUrl: `${target.url}/hook/chain`,
      },
      { traceparent: CALLER },
    );
    expect(task.traceId).toBe(TRACE);
    await stack.waitForStatus(task.id, ['succeeded']);
    const read = (await (await stack.request('GET', `/v1/tasks/${task.id}`)).json()) as TaskView;
    expect(read.traceId).toBe(TRACE);

    const submission = await span('POST /v1/tasks', TRACE);
    expect(submission.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(submission.attributes['http.response.status_code']).toBe(202);
    const attempt = await span('run http', TRACE);
    expect(attempt.parentSpanContext?.spanId).toBe(submission.spanContext().spanId);
    expect(attempt.attributes['procurator.task.id']).toBe(task.id);
    expect(attempt.attributes['procurator.attempt.outcome']).toBe('succeeded');

    const outbound = await target.waitFor('/target/chain');
    expect(parseTraceparent(String(outbound.headers.traceparent))).toEqual({
      traceId: TRACE,
      spanId: attempt.spanContext().spanId,
      flags: 1,
    });

    const hook = await target.waitFor('/hook/chain');
    const delivery = await span('callback task.succeeded', TRACE);
    expect(delivery.parentSpanContext?.spanId).toBe(submission.spanContext().spanId);
    expect(parseTraceparent(String(hook.headers.traceparent))).toEqual({
      traceId: TRACE,
      spanId: delivery.spanContext().spanId,
      flags: 1,
    });
    // The callback keeps its Standard Webhooks headers beside the trace context.
    expect(hook.headers['webhook-id']).toBeDefined();
    expect(hook.headers['webhook-signature']).toMatch(/^v1a,/);
    expect((JSON.parse(hook.body.toString('utf8')) as { task: TaskView }).task.traceId).toBe(TRACE);
  });

  it('serves a malformed traceparent in a new trace, without refusing the request', async () => {
    for (const bad of [
      `00-${TRACE.toUpperCase()}-${CALLER_SPAN}-01`,
      'garbage',
      `ff-${TRACE}-${CALLER_SPAN}-01`,
    ]) {
      const task = await submit(stack, { type: 'demo.echo' }, { traceparent: bad });
      expect(task.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(task.traceId).not.toBe(TRACE);
      const submission = await span('POST /v1/tasks', task.traceId);
      expect(submission.parentSpanContext).toBeUndefined();
      const attempt = await span('run demo.echo', task.traceId);
      expect(attempt.parentSpanContext?.spanId).toBe(submission.spanContext().spanId);
    }
  });

  it('puts every task of a batch in the request’s trace, under its one submission span', async () => {
    const res = await stack.request('POST', '/v1/tasks/batch', {
      body: { tasks: [{ type: 'demo.echo' }, { type: 'demo.echo' }] },
      headers: { traceparent: `00-${'ab'.repeat(16)}-${CALLER_SPAN}-01` },
    });
    expect(res.status).toBe(202);
    const { tasks } = (await res.json()) as { tasks: TaskView[] };
    expect(tasks.map((t) => t.traceId)).toEqual(['ab'.repeat(16), 'ab'.repeat(16)]);
    const submission = await span('POST /v1/tasks/batch', 'ab'.repeat(16));
    expect(submission.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    // One span for the request: the middleware of POST /v1/tasks does not match the batch's path.
    expect(
      exporter
        .getFinishedSpans()
        .filter((s) => s.spanContext().traceId === 'ab'.repeat(16) && s.name.startsWith('POST'))
        .map((s) => s.name),
    ).toEqual(['POST /v1/tasks/batch']);
    for (const t of tasks) await stack.waitForStatus(t.id, ['succeeded']);
    await sleep(50);
    const attempts = exporter
      .getFinishedSpans()
      .filter((s) => s.name === 'run demo.echo' && s.spanContext().traceId === 'ab'.repeat(16));
    expect(attempts.map((s) => s.parentSpanContext?.spanId)).toEqual([
      submission.spanContext().spanId,
      submission.spanContext().spanId,
    ]);
  });

  it('follows an unsampled caller: nothing of its trace is recorded, the ids still travel', async () => {
    const unsampled = `00-${'cd'.repeat(16)}-${CALLER_SPAN}-00`;
    const task = await submit(
      stack,
      { type: 'http', payload: { url: `${target.url}/target/unsampled`, method: 'GET' } },
      { traceparent: unsampled },
    );
    expect(task.traceId).toBe('cd'.repeat(16));
    await stack.waitForStatus(task.id, ['succeeded']);
    const outbound = parseTraceparent(
      String((await target.waitFor('/target/unsampled')).headers.traceparent),
    );
    expect(outbound).toMatchObject({ traceId: 'cd'.repeat(16), flags: 0 });
    expect(outbound?.spanId).not.toBe(CALLER_SPAN);
    expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === 'cd'.repeat(16))).toEqual(
      [],
    );
  });

  it('marks a failed attempt’s span, and logs the attempt’s lines with its traceId and spanId', async () => {
    const task = await submit(
      stack,
      { type: 'demo.fail', payload: { message: 'no luck' }, maxAttempts: 1 },
      { traceparent: CALLER.replace(TRACE, 'ef'.repeat(16)) },
    );
    await stack.waitForStatus(task.id, ['dead']);
    const attempt = await span('run demo.fail', 'ef'.repeat(16));
    expect(attempt.status).toMatchObject({ code: 2, message: 'no luck' });
    const line = log.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.taskId === task.id && l.msg === 'attempt failed');
    expect(line).toMatchObject({ traceId: 'ef'.repeat(16), spanId: attempt.spanContext().spanId });
  });
});

describe('tracing off (no exporter configured)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ config: { OUTBOUND_ALLOW_PRIVATE: 'true' }, callbacks: { intervalMs: 50 } });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('still sends a traceparent of the task’s trace, naming a span of its own', async () => {
    const task = await submit(
      stack,
      {
        type: 'http',
        payload: { url: `${target.url}/target/off`, method: 'GET' },
        callbackUrl: `${target.url}/hook/off`,
      },
      { traceparent: CALLER },
    );
    expect(task.traceId).toBe(TRACE);
    await stack.waitForStatus(task.id, ['succeeded']);
    const outbound = parseTraceparent(String((await target.waitFor('/target/off')).headers.traceparent));
    const hook = parseTraceparent(String((await target.waitFor('/hook/off')).headers.traceparent));
    expect(outbound).toMatchObject({ traceId: TRACE, flags: 1 });
    expect(hook).toMatchObject({ traceId: TRACE, flags: 1 });
    // Procurator's own spans (the attempt's, the delivery's), not the caller's passed through.
    expect(new Set([outbound?.spanId, hook?.spanId, CALLER_SPAN]).size).toBe(3);
  });

  it('gives a task submitted without a traceparent a trace of its own', async () => {
    const a = await submit(stack, { type: 'demo.echo' });
    const b = await submit(stack, { type: 'demo.echo' });
    expect(a.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(b.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.traceId).not.toBe(b.traceId);
  });
});
