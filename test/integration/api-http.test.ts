import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

let stack: Stack;
let server: Server;
let base: string;

beforeAll(async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', config: { MAX_BODY_BYTES: '4096' } });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: (r) => stack.app.fetch(r), hostname: '127.0.0.1', port: 0 }, () =>
      resolve(),
    ) as Server;
  });
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await stack.stop();
});

/** Sends raw bytes and returns the status line of the answer. */
function rawRequest(text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error('no answer')));
  });
}

describe('the API over a real HTTP server (Redis + PostgreSQL)', () => {
  it('413 for a chunked body that grows past the limit without Content-Length', async () => {
    const chunk = new TextEncoder().encode(`{"type":"demo.echo","payload":{"s":"${'x'.repeat(1000)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 10) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${base}/v1/tasks`, {
      method: 'POST',
      headers: { 'X-API-Token': stack.adminToken, 'Content-Type': 'application/json' },
      body,
      duplex: 'half',
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('400 for Content-Length together with Transfer-Encoding (request smuggling)', async () => {
    const status = await rawRequest(
      'POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(status).toMatch(/^HTTP\/1\.1 400/);
  });

  it('50 concurrent submissions with one Idempotency-Key create exactly one task', async () => {
    const send = () =>
      fetch(`${base}/v1/tasks`, {
        method: 'POST',
        headers: {
          'X-API-Token': stack.adminToken,
          'Content-Type': 'application/json',
          'Idempotency-Key': 'concurrent-1',
        },
        body: JSON.stringify({ type: 'demo.echo', payload: { same: true } }),
      });
    const answers = await Promise.all(Array.from({ length: 50 }, send));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    const ids = new Set(await Promise.all(answers.map(async (r) => ((await r.json()) as TaskView).id)));
    expect(ids.size).toBe(1);
    const [row] = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM tasks WHERE idempotency_key = 'concurrent-1'`,
    );
    expect(row!.n).toBe(1);
    await stack.waitForStatus([...ids][0]!, ['succeeded']);
  });

  it('exposes Prometheus metrics for what it did', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(
      /procurator_http_requests_total\{method="POST",route="\/v1\/tasks",status="202"\} 1/,
    );
    expect(text).toMatch(/procurator_tasks_submitted_total\{type="demo.echo",queue="default"\} 1/);
  });
});
