import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../lib/config';
import { loadConfig } from '../../lib/config';
import { openTracing, tracesUrl } from '../../lib/tracing/open-tracing';
import { noTracing } from '../../lib/tracing/tracing';
import { captureLogger } from '../helpers/log-capture';
import { startRequestRecorder } from '../helpers/request-recorder';

describe('OTEL_* configuration', () => {
  it('is off by default: no endpoint, protocol http/protobuf', async () => {
    const c = loadConfig({});
    expect(c.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(c.OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/protobuf');
    expect(tracesUrl(c)).toBeNull();
    const log = captureLogger();
    // The very object that loads no SDK and records nothing.
    expect(await openTracing(c, log.logger)).toBe(noTracing);
    expect(log.lines).toEqual([]);
  });

  it('appends v1/traces to the general endpoint; takes the traces endpoint as it is', () => {
    expect(tracesUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }))).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(tracesUrl(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/base/' }))).toBe(
      'https://otel.example/base/v1/traces',
    );
    expect(
      tracesUrl(
        loadConfig({
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
        }),
      ),
    ).toBe('http://traces:9999/custom');
  });

  it('refuses a bad endpoint and the gRPC protocol, naming them', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.problems).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL (got "collector:4317")',
      'OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (grpc is not supported) (got "grpc")',
    ]);
  });

  it('with an endpoint, exports through the SDK and says where', async () => {
    const collector = await startRequestRecorder();
    const log = captureLogger();
    const tracing = await openTracing(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      log.logger,
    );
    try {
      expect(tracing.exporting).toBe(true);
      const span = tracing.start('a span', null, { kind: 'internal' });
      expect(span.recording).toBe(true);
      expect(span.traceparent()).toBe(`00-${span.traceId}-${span.spanId}-01`);
      span.end();
      expect(JSON.parse(log.lines[0]!)).toMatchObject({
        msg: 'tracing: spans exported over OTLP/HTTP',
        endpoint: `${collector.url}/v1/traces`,
        protocol: 'http/json',
      });
      await tracing.shutdown(); // flushes the batch
      const post = await collector.waitFor('/v1/traces');
      expect(post.method).toBe('POST');
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.body.toString('utf8')).toContain(span.spanId);
    } finally {
      await tracing.shutdown();
      await collector.close();
    }
  });

  it('exports http/protobuf by default', async () => {
    const collector = await startRequestRecorder();
    const tracing = await openTracing(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }),
      captureLogger().logger,
    );
    try {
      const span = tracing.start('a span', null, { kind: 'server' });
      span.end();
      await tracing.shutdown();
      const post = await collector.waitFor('/v1/traces');
      expect(post.headers['content-type']).toBe('application/x-protobuf');
      // Protobuf carries ids as raw bytes.
      expect(post.body.includes(Buffer.from(span.spanId, 'hex'))).toBe(true);
      expect(post.body.includes(Buffer.from(span.traceId, 'hex'))).toBe(true);
    } finally {
      await collector.close();
    }
  });

  it('with a collector that is down: logs the spans lost, and a shutdown waits no longer than the timeout', async () => {
    const collector = await startRequestRecorder(() => ({ status: 503 }));
    const log = captureLogger();
    const tracing = await openTracing(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_TIMEOUT: '300' }),
      log.logger,
    );
    try {
      tracing.start('lost', null, { kind: 'internal' }).end();
      const started = performance.now();
      await tracing.shutdown(); // resolves: lost spans never fail a shutdown
      expect(performance.now() - started).toBeLessThan(1500);
      expect(collector.requests.length).toBeGreaterThan(0);
      const warning = log.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.level === 'warn');
      expect(warning).toMatchObject({ msg: 'spans not exported', spansLost: 1 });
    } finally {
      await collector.close();
    }
  });
});
