import http from 'node:http';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { httpTaskType } from '../../lib/catalog/http-type';
import { PermanentTaskError, RetryAfterError, RetryableTaskError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import type { AddressPolicy } from '../../lib/outbound/address-policy';
import type { LookupAll } from '../../lib/outbound/safe-outbound-client';
import { BlockedDestinationError, SafeOutboundClient } from '../../lib/outbound/safe-outbound-client';
import type { TaskView } from '../../lib/tasks/task';
import type { TaskContext } from '../../worker/executors/executor';
import { createHttpExecutor } from '../../worker/executors/http';
import { startStack } from '../helpers/stack';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

interface TestServer {
  url: string;
  port: number;
  connections: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1 that counts connections, so a test can prove none was opened. */
async function startServer(handler: Handler): Promise<TestServer> {
  const state = { connections: 0, requests: [] as TestServer['requests'] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      state.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A resolver that answers from a script: the n-th call gets answers[min(n, last)]. */
function scriptedLookup(...answers: string[][]): LookupAll & { calls: number } {
  const fn = ((hostname, _options, callback) => {
    const answer = answers[Math.min(fn.calls, answers.length - 1)]!;
    fn.calls++;
    const addresses: LookupAddress[] = answer.map((address) => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
    setImmediate(() => callback(null, addresses));
  }) as LookupAll & { calls: number };
  fn.calls = 0;
  return fn;
}

function context(payload: unknown, overrides: { attempt?: number; signal?: AbortSignal } = {}): TaskContext {
  const attempt = overrides.attempt ?? 1;
  return {
    task: {
      id: 'task-123',
      type: 'http',
      queue: 'default',
      payload,
      attempt,
      maxAttempts: 3,
      timeoutMs: 5000,
      metadata: {},
      createdBy: 'user-1',
    },
    attempt,
    signal: overrides.signal ?? new AbortController().signal,
    logger: silentLogger(),
  };
}

const strict: AddressPolicy = { allowPrivate: false, allowHosts: [] };
const open: AddressPolicy = { allowPrivate: true, allowHosts: [] };

describe('SafeOutboundClient with private addresses blocked', () => {
  let server: TestServer;
  const clients: SafeOutboundClient[] = [];
  const client = (policy: AddressPolicy, lookup?: LookupAll) => {
    const c = new SafeOutboundClient({ policy, lookup });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startServer((_req, _body, res) => res.end('reached'));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await server.close();
  });

  it.each([
    'http://127.0.0.1:PORT/',
    'http://2130706433:PORT/',
    'http://[::ffff:127.0.0.1]:PORT/',
    'http://localhost:PORT/',
  ])('refuses %s without connecting', async (template) => {
    const url = template.replace('PORT', String(server.port));
    const err = await client(strict)
      .request({ url, method: 'GET', timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedDestinationError);
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(err).toMatchObject({ code: 'blocked_destination' });
    expect(server.connections).toBe(0);
  });

  it('refuses a name that resolves to loopback, without naming the address', async () => {
    const lookup = scriptedLookup(['127.0.0.1']);
    const err = await client(strict, lookup)
      .request({ url: `http://internal.test:${server.port}/`, method: 'GET', timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedDestinationError);
    expect((err as Error).message).toBe(
      'destination blocked: internal.test resolves to a private, loopback or link-local address',
    );
    expect(lookup.calls).toBe(1);
    expect(server.connections).toBe(0);
  });

  it('refuses a name when any one of its addresses is private', async () => {
    // 192.0.2.0/24 passes the policy but is documentation space; loopback first, so even a broken
    // guard would connect locally (and fail the count) rather than send traffic elsewhere.
    const lookup = scriptedLookup(['127.0.0.1', '192.0.2.10']);
    await expect(
      client(strict, lookup).request({
        url: `http://mixed.test:${server.port}/`,
        method: 'GET',
        timeoutMs: 2000,
      }),
    ).rejects.toBeInstanceOf(BlockedDestinationError);
    expect(server.connections).toBe(0);
  });

  it('judges the address it connects to, so a rebinding name is refused at connect time', async () => {
    // First answer public (what a check-then-connect validator would have seen), then loopback.
    const lookup = scriptedLookup(['192.0.2.10'], ['127.0.0.1']);
    const firstAnswer = await new Promise<LookupAddress[]>((resolve) =>
      lookup('rebind.test', { all: true }, (_e, a) => resolve(a)),
    );
    expect(firstAnswer[0]!.address).toBe('192.0.2.10');
    await expect(
      client(strict, lookup).request({
        url: `http://rebind.test:${server.port}/`,
        method: 'GET',
        timeoutMs: 2000,
      }),
    ).rejects.toBeInstanceOf(BlockedDestinationError);
    expect(lookup.calls).toBe(2);
    expect(server.connections).toBe(0);
  });

  it('turns a DNS failure into a retryable network error', async () => {
    const failing: LookupAll = (hostname, _o, cb) => {
      const e: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      e.code = 'ENOTFOUND';
      setImmediate(() => cb(e, []));
    };
    const err = await client(strict, failing)
      .request({ url: 'http://nowhere.test/', method: 'GET', timeoutMs: 2000 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect(err).toMatchObject({ code: 'network_error' });
  });

  it('returns a redirect to the metadata address instead of following it', async () => {
    const redirector = await startServer((_req, _body, res) => {
      res.writeHead(302, { Location: 'http://169.254.169.254/latest/meta-data/' }).end();
    });
    try {
      // The redirector itself is reachable only because its name is in OUTBOUND_ALLOW_HOSTS.
      const c = client(
        { allowPrivate: false, allowHosts: ['redirector.test'] },
        scriptedLookup(['127.0.0.1']),
      );
      const url = `http://redirector.test:${redirector.port}/`;
      const res = await c.request({ url, method: 'GET', timeoutMs: 2000 });
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('http://169.254.169.254/latest/meta-data/');

      const err = await createHttpExecutor(c)(context({ url, method: 'GET' })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentTaskError);
      expect(err).toMatchObject({ code: 'redirect_not_followed' });
      expect(redirector.requests).toHaveLength(2);
      expect(redirector.requests.every((r) => r.url === '/')).toBe(true);
    } finally {
      await redirector.close();
    }
  });
});

describe('http executor against a reachable server', () => {
  let server: TestServer;
  let client: SafeOutboundClient;
  let run: ReturnType<typeof createHttpExecutor>;
  beforeAll(async () => {
    server = await startServer((req, body, res) => {
      const path = req.url ?? '/';
      if (path === '/json') res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      else if (path === '/echo') res.writeHead(201, { 'Content-Type': 'text/plain' }).end(`got ${body}`);
      else if (path === '/503') res.writeHead(503).end('down for maintenance');
      else if (path === '/429') res.writeHead(429, { 'Retry-After': '3' }).end('slow down');
      else if (path === '/400') res.writeHead(400).end(`bad request: ${'x'.repeat(2000)}`);
      else if (path === '/big')
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('[' + '1,'.repeat(100_000) + '1]');
      // '/hang' never answers.
    });
    client = new SafeOutboundClient({ policy: open });
    run = createHttpExecutor(client);
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('sends the payload with the task headers and returns parsed JSON', async () => {
    const result = await run(
      context(
        {
          url: `${server.url}/json`,
          body: { hello: 'world' },
          headers: { 'X-Trace': 't1', 'idempotency-key': 'mine', 'Procurator-Attempt': '99' },
        },
        { attempt: 2 },
      ),
    );
    expect(result).toMatchObject({ status: 200, body: { ok: true }, truncated: false });
    const seen = server.requests.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.body).toBe('{"hello":"world"}');
    expect(seen.headers).toMatchObject({
      'content-type': 'application/json',
      'x-trace': 't1',
      'idempotency-key': 'task-123',
      'procurator-attempt': '2',
      'procurator-task-id': 'task-123',
    });
  });

  it('sends a string body as text and keeps a text answer as text', async () => {
    const result = await run(context({ url: `${server.url}/echo`, method: 'PUT', body: 'plain' }));
    expect(result).toMatchObject({ status: 201, body: 'got plain' });
    expect(server.requests.at(-1)!.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('retries a 503', async () => {
    const err = await run(context({ url: `${server.url}/503` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect(err).not.toBeInstanceOf(RetryAfterError);
    expect(err).toMatchObject({ code: 'http_503' });
    expect((err as Error).message).toContain('503');
    expect((err as Error).message).toContain('down for maintenance');
  });

  it('honours Retry-After on a 429', async () => {
    const err = await run(context({ url: `${server.url}/429` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryAfterError);
    expect(err).toMatchObject({ code: 'http_429', delayMs: 3000 });
  });

  it('fails a 400 permanently, quoting the start of the body', async () => {
    const err = await run(context({ url: `${server.url}/400` })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(err).toMatchObject({ code: 'http_400' });
    expect((err as Error).message).toContain('HTTP 400');
    expect((err as Error).message.length).toBeLessThan(600);
  });

  it('times out after payload.timeoutMs', async () => {
    const started = Date.now();
    const err = await run(context({ url: `${server.url}/hang`, timeoutMs: 200 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect(err).toMatchObject({ code: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('stops when the caller aborts, rethrowing the abort', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort('cancelled'), 100);
    const err = await run(context({ url: `${server.url}/hang` }, { signal: controller.signal })).catch(
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(RetryableTaskError);
    expect(err).not.toBeInstanceOf(PermanentTaskError);
    expect(err).toMatchObject({ name: 'AbortError' });
  });

  it('cuts the answer at 64 KiB and keeps it as text', async () => {
    const result = (await run(context({ url: `${server.url}/big`, method: 'GET' }))) as {
      body: unknown;
      truncated: boolean;
    };
    expect(result.truncated).toBe(true);
    expect(typeof result.body).toBe('string');
    expect((result.body as string).length).toBe(64 * 1024);
  });
});

describe('http tasks through the API and worker', () => {
  it('validates at submission and retries a 503 to success', async () => {
    let calls = 0;
    const server = await startServer((_req, _body, res) => {
      calls++;
      if (calls === 1) res.writeHead(503).end('try again');
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"done":true}');
    });
    const client = new SafeOutboundClient({ policy: open });
    const stack = await startStack({
      config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
      types: [
        { definition: { ...httpTaskType(open), type: 'test.http' }, executor: createHttpExecutor(client) },
        {
          definition: { ...httpTaskType(strict), type: 'test.http-strict' },
          executor: createHttpExecutor(client),
        },
      ],
    });
    try {
      const bad = await stack.request('POST', '/v1/tasks', {
        body: {
          type: 'test.http-strict',
          payload: { url: 'http://169.254.169.254/', headers: { Host: 'evil', 'X-A': 'a\r\nb' } },
        },
      });
      expect(bad.status).toBe(422);
      const problem = (await bad.json()) as { errors: { path: string }[] };
      expect(problem.errors.map((e) => e.path).sort()).toEqual([
        'payload.headers.Host',
        'payload.headers.X-A',
        'payload.url',
      ]);

      const res = await stack.request('POST', '/v1/tasks', {
        body: { type: 'test.http', payload: { url: `${server.url}/hook`, body: { n: 1 } }, maxAttempts: 3 },
      });
      expect(res.status).toBe(202);
      const task = (await res.json()) as TaskView;
      const done = await stack.waitForStatus(task.id, ['succeeded', 'dead']);
      expect(done.status).toBe('succeeded');
      expect(done.attempts).toBe(2);
      expect(done.result).toMatchObject({ status: 200, body: { done: true } });
      expect(server.requests.map((r) => r.headers['procurator-attempt'])).toEqual(['1', '2']);
      expect(server.requests.map((r) => r.headers['idempotency-key'])).toEqual([task.id, task.id]);
    } finally {
      await stack.stop();
      await client.close();
      await server.close();
    }
  });
});
