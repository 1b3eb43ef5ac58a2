import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { parseTraceparent } from '../../lib/tracing/trace-context';
import { startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import type { RequestRecorder } from '../helpers/request-recorder';
import { startRequestRecorder } from '../helpers/request-recorder';

/**
 * Tracing between real processes: `serve` and `worker` on Redis and PostgreSQL, exporting to a
 * local OTLP/HTTP receiver (http/json, so that the test reads what it got without a protobuf
 * decoder); a target for `http` tasks and callbacks on 127.0.0.1 records the traceparent it
 * is sent. The ids must chain: caller → submission span → attempt span → outbound request,
 * and submission span → delivery span → callback.
 */

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const CALLER = `00-${TRACE}-${CALLER_SPAN}-01`;

/** A span as OTLP/JSON carries it (ids in hex), with its resource's service name. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: (Omit<ExportedSpan, 'service' | 'attributes'> & { attributes?: OtlpAttribute[] })[];
    }[];
  }[];
}
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean };
}

function attributes(list: OtlpAttribute[] = []): Record<string, unknown> {
  return Object.fromEntries(
    list.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue]),
  );
}

/** Every span the collector received so far. */
function exportedSpans(collector: RequestRecorder): ExportedSpan[] {
  const out: ExportedSpan[] = [];
  for (const r of collector.requests.filter((q) => q.path === '/v1/traces')) {
    const body = JSON.parse(r.body.toString('utf8')) as OtlpJson;
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attributes(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          out.push({
            ...s,
            parentSpanId: s.parentSpanId || undefined,
            service,
            attributes: attributes(s.attributes),
          });
    }
  }
  return out;
}

async function exportedSpan(
  collector: RequestRecorder,
  name: string,
  traceId: string,
): Promise<ExportedSpan> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hit = exportedSpans(collector).find((s) => s.name === name && s.traceId === traceId);
    if (hit) return hit;
    if (Date.now() > deadline) {
      const seen = exportedSpans(collector).map((s) => `${s.name} ${s.traceId}`);
      throw new Error(`no span ${name} of ${traceId} exported; got: ${seen.join(', ') || 'nothing'}`);
    }
    await sleep(50);
  }
}

async function submit(port: number, token: string, body: unknown, traceparent?: string): Promise<TaskView> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/tasks`, {
    method: 'POST',
    headers: {
      'X-API-Token': token,
      'Content-Type': 'application/json',
      ...(traceparent ? { traceparent } : {}),
    },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

let target: RequestRecorder;
beforeAll(async () => {
  target = await startRequestRecorder();
});
afterAll(async () => {
  await target?.close();
});

describe('with OTEL_EXPORTER_OTLP_ENDPOINT set (http/json)', () => {
  let collector: RequestRecorder;
  let cluster: Cluster;
  let port: number;
  let token: string;

  beforeAll(async () => {
    collector = await startRequestRecorder();
    cluster = await startCluster({
      label: 'otlp',
      workers: 1,
      env: {
        WORKER_METRICS_PORT: '0',
        OUTBOUND_ALLOW_PRIVATE: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'procurator-it',
        // The SDK's own batch setting: export within 100 ms rather than 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
    port = cluster.ports[0]!;
    token = cluster.token;
  });
  afterAll(async () => {
    await cluster?.stop();
    await collector?.close();
  });

  it('chains caller → submission → attempt → outbound request, and submission → delivery → callback', async () => {
    const task = await submit(
      port,
      token,
      {
        type: 'http',
        payload: { url: `${target.url}/target/otlp`, method: 'POST', body: { hello: 'trace' } },
        callbackUrl: `${target.url}/hook/otlp`,
      },
      CALLER,
    );
    expect(task.traceId).toBe(TRACE);
    const done = await waitForTaskStatus(port, token, task.id, ['succeeded']);
    expect(done.traceId).toBe(TRACE);

    const submission = await exportedSpan(collector, 'POST /v1/tasks', TRACE);
    expect(submission).toMatchObject({ parentSpanId: CALLER_SPAN, service: 'procurator-it' });
    expect(submission.attributes['http.response.status_code']).toBe(202);

    const attempt = await exportedSpan(collector, 'run http', TRACE);
    expect(attempt.parentSpanId).toBe(submission.spanId);
    expect(attempt.attributes).toMatchObject({ 'procurator.task.id': task.id, 'procurator.task.attempt': 1 });
    const outbound = await target.waitFor('/target/otlp');
    expect(parseTraceparent(String(outbound.headers.traceparent))).toEqual({
      traceId: TRACE,
      spanId: attempt.spanId,
      flags: 1,
    });

    const hook = await target.waitFor('/hook/otlp');
    const delivery = await exportedSpan(collector, 'callback task.succeeded', TRACE);
    expect(delivery.parentSpanId).toBe(submission.spanId);
    expect(parseTraceparent(String(hook.headers.traceparent))).toEqual({
      traceId: TRACE,
      spanId: delivery.spanId,
      flags: 1,
    });
    expect(hook.headers['webhook-id']).toBe(hook.headers['procurator-delivery']);
  });

  it('gives a task submitted without a traceparent a new trace, rooted at its submission span', async () => {
    const task = await submit(port, token, { type: 'demo.echo' });
    expect(task.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(task.traceId).not.toBe(TRACE);
    const submission = await exportedSpan(collector, 'POST /v1/tasks', task.traceId);
    expect(submission.parentSpanId).toBeUndefined();
    const attempt = await exportedSpan(collector, 'run demo.echo', task.traceId);
    expect(attempt.parentSpanId).toBe(submission.spanId);
  });

  it('writes the traceId into the log lines of a task’s attempts', async () => {
    const task = await submit(port, token, { type: 'demo.fail', maxAttempts: 1 }, CALLER);
    await waitForTaskStatus(port, token, task.id, ['dead']);
    const attempt = await exportedSpan(collector, 'run demo.fail', TRACE);
    const line = await cluster.workers[0]!.waitFor(
      (l) => l.includes(task.id) && l.includes('attempt failed'),
    );
    expect(JSON.parse(line)).toMatchObject({ taskId: task.id, traceId: TRACE, spanId: attempt.spanId });
  });

  it('stops on SIGTERM with an exporter, and exits 0 by itself', async () => {
    // The flush itself is checked in test/unit/open-tracing.test.ts; here, that the exporter's
    // connection and timers leave the processes free to exit.
    for (const p of [cluster.workers[0]!, cluster.serves[0]!]) {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
      expect(p.lines.some((l) => l.includes('shutdown complete'))).toBe(true);
    }
  });
});

describe('with no OTEL_* variable set', () => {
  let cluster: Cluster;
  let port: number;
  let token: string;
  /** Where an exporter left at the SDK's defaults would send spans (OTLP/HTTP's default port). */
  let defaultCollector: { received: number; close(): Promise<void> } | undefined;

  beforeAll(async () => {
    defaultCollector = await listenOnDefaultOtlpPort();
    cluster = await startCluster({
      label: 'nootlp',
      workers: 1,
      env: { WORKER_METRICS_PORT: '0', OUTBOUND_ALLOW_PRIVATE: 'true' },
    });
    port = cluster.ports[0]!;
    token = cluster.token;
  });
  afterAll(async () => {
    await cluster?.stop();
    await defaultCollector?.close();
  });

  it('exports nothing, and still sends a traceparent of the task’s trace naming its own spans', async () => {
    const task = await submit(
      port,
      token,
      {
        type: 'http',
        payload: { url: `${target.url}/target/off`, method: 'GET' },
        callbackUrl: `${target.url}/hook/off`,
      },
      CALLER,
    );
    expect(task.traceId).toBe(TRACE);
    await waitForTaskStatus(port, token, task.id, ['succeeded']);
    const outbound = parseTraceparent(String((await target.waitFor('/target/off')).headers.traceparent));
    const hook = parseTraceparent(String((await target.waitFor('/hook/off')).headers.traceparent));
    expect(outbound).toMatchObject({ traceId: TRACE, flags: 1 });
    expect(hook).toMatchObject({ traceId: TRACE, flags: 1 });
    expect(new Set([outbound?.spanId, hook?.spanId, CALLER_SPAN]).size).toBe(3);

    // Stopping flushes whatever an exporter would hold: still nothing may arrive.
    await Promise.all([...cluster.workers, ...cluster.serves].map((p) => p.stop()));
    const lines = [...cluster.workers, ...cluster.serves].flatMap((p) => p.lines);
    expect(lines.some((l) => l.includes('tracing: spans exported'))).toBe(false);
    if (defaultCollector) expect(defaultCollector.received).toBe(0);
  });
});

/**
 * A listener on 127.0.0.1:4318, counting requests; undefined when the port is taken (the
 * check of the default endpoint is then left out, the rest of the test still runs).
 */
async function listenOnDefaultOtlpPort(): Promise<{ received: number; close(): Promise<void> } | undefined> {
  const state = { received: 0 };
  const server = createServer((_req, res) => {
    state.received++;
    res.writeHead(200).end('{}');
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(4318, '127.0.0.1', () => resolve(true));
  });
  if (!ok) return undefined;
  return {
    get received() {
      return state.received;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
