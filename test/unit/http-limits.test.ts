import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HTTP_LIMITS, listenHttp } from '../../lib/http-server';
import type { RunningServer } from '../../compose/serve';
import { startServer } from '../../compose/serve';
import { testConfig } from '../../lib/config';
import { silentLogger } from '../../lib/logger';

// Caps on what a client may send before the app sees it, checked against real listening
// servers over raw sockets (fetch would refuse or rewrite some of these requests itself).

interface RawAnswer {
  status: number;
  headers: string;
  body: string;
}

/** Sends `head` (request line and headers, without the blank line) and reads until close. */
function rawRequest(port: number, head: string, opts: { end?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(data);
      if (!m) reject(new Error(`no HTTP answer: ${JSON.stringify(data.slice(0, 200))}`));
      else resolve({ status: Number(m[1]), headers: m[2]!.toLowerCase(), body: m[3]! });
    });
    socket.write(opts.end === false ? head : `${head}Connection: close\r\n\r\n`);
  });
}

/** A GET of `target` with `extra` header lines besides Host and Connection. */
function getWith(target: string, extra: string[]): string {
  return `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra.map((h) => `${h}\r\n`).join('')}`;
}

function expectProblem(answer: RawAnswer, status: number): void {
  expect(answer.status).toBe(status);
  expect(answer.headers).toContain('content-type: application/problem+json');
  expect(JSON.parse(answer.body)).toMatchObject({
    status,
    type: expect.stringMatching(/^urn:procurator:problem:/),
  });
}

describe('procurator serve', () => {
  let running: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'procurator-http-limits-'));
    const config = testConfig({ SERVER_HOST: '127.0.0.1', SERVER_PORT: '0', DATA_DIR: dataDir });
    // The embedded database starts empty, so serve prints a first admin token: not wanted here.
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      running = await startServer(config, silentLogger());
    } finally {
      write.mockRestore();
    }
  });
  afterAll(async () => {
    await running?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers an ordinary request (the raw client works)', async () => {
    const ok = await rawRequest(running.port, getWith('/healthz', ['Accept: application/json']));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ status: 'ok' });
  });

  it('431 problem+json, never 500, for a header block over maxHeaderSize', async () => {
    const under = 'x'.repeat(HTTP_LIMITS.maxHeaderSize - 1024);
    expect((await rawRequest(running.port, getWith('/healthz', [`X-Big: ${under}`]))).status).toBe(200);

    const over = 'x'.repeat(HTTP_LIMITS.maxHeaderSize + 1);
    expectProblem(await rawRequest(running.port, getWith('/healthz', [`X-Big: ${over}`])), 431);
    // The same size spread over many small lines (below the line count cap) is refused too.
    const lines = Array.from({ length: 80 }, (_, i) => `X-Part-${i}: ${'y'.repeat(220)}`);
    expectProblem(await rawRequest(running.port, getWith('/v1/me', lines)), 431);
  });

  it(`431 problem+json for more than ${HTTP_LIMITS.maxHeadersCount} header lines, before the app runs`, async () => {
    // Host and Connection count: maxHeadersCount - 2 extra lines is exactly at the limit.
    const at = Array.from({ length: HTTP_LIMITS.maxHeadersCount - 2 }, (_, i) => `X-N${i}: 1`);
    expect((await rawRequest(running.port, getWith('/healthz', at))).status).toBe(200);
    // Without a token /v1/me is a 401 from the app; one line too many never reaches it.
    expect((await rawRequest(running.port, getWith('/v1/me', at))).status).toBe(401);
    const over = [...at, 'X-One-Too-Many: 1'];
    expectProblem(await rawRequest(running.port, getWith('/v1/me', over)), 431);
    // Far more lines than Node collects in one batch (32) are refused as well, not truncated.
    const flood = Array.from({ length: 1000 }, (_, i) => `X-F${i}: 1`);
    expectProblem(await rawRequest(running.port, getWith('/healthz', flood)), 431);
  });

  it('400 problem+json for a request that is not HTTP', async () => {
    expectProblem(await rawRequest(running.port, 'HELLO\r\n\r\n', { end: false }), 400);
  });
});

describe('listenHttp timeouts', () => {
  let server: ServerType;
  let port: number;

  beforeAll(async () => {
    const limits = { ...HTTP_LIMITS, headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 50 };
    // Reads the body, so that a body which stops arriving leaves the answer unstarted.
    server = await listenHttp(async (req) => new Response(await req.text()), '127.0.0.1', 0, limits);
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    const http = server as Server;
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('408 problem+json for a header block that never finishes (Slowloris)', async () => {
    const started = Date.now();
    const answer = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n', {
      end: false,
    });
    expectProblem(answer, 408);
    // Within the headers timeout plus check intervals, far from Node's defaults (60 s / 300 s).
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('408 problem+json for a body that stops arriving', async () => {
    const answer = await rawRequest(
      port,
      'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
      { end: false },
    );
    expectProblem(answer, 408);
  });
});
