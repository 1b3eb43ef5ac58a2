import http from 'node:http';
import type { LookupAddress } from 'node:dns';
import net, { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TaskContext } from '../../lib/catalog/task-type';
import { PermanentTaskError, RetryAfterError, RetryableTaskError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import type { AddressPolicy } from '../../lib/outbound/address-policy';
import type { LookupAll } from '../../lib/outbound/safe-outbound-client';
import { BlockedDestinationError, SafeOutboundClient } from '../../lib/outbound/safe-outbound-client';
import type { TaskView } from '../../lib/tasks/task';
import { httpTaskType } from '../../worker/executors/http';
import { executorServices } from '../helpers/executor-services';
import { startStack } from '../helpers/stack';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

interface TestServer {
  url: string;
  port: number;
  connections: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1 (or ::1) that counts connections, so a test can prove none was opened. */
async function startServer(handler: Handler, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<TestServer> {
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    url: host === '::1' ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`,
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

/** The attempt's span as the runner would name it. */
const ATTEMPT_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

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
    traceparent: ATTEMPT_TRACEPARENT,
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

      const err = await httpTaskType(open)
        .run(context({ url, method: 'GET' }), executorServices({ outbound: c }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentTaskError);
      expect(err).toMatchObject({ code: 'redirect_not_followed' });
      expect(redirector.requests).toHaveLength(2);
      expect(redirector.requests.every((r) => r.url === '/')).toBe(true);
    } finally {
      await redirector.close();
    }
  });
});

/**
 * A resolver that answers from a table (names compared lower-cased, without a trailing dot) and
 * records each name asked; unknown names are "not found", so no test query reaches a real DNS server.
 */
function tableLookup(table: Record<string, string[]> = {}): LookupAll & { calls: string[] } {
  const fn = ((hostname, _options, callback) => {
    fn.calls.push(hostname);
    const answer = table[hostname.toLowerCase().replace(/\.+$/, '')];
    setImmediate(() => {
      if (!answer) {
        const e: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        e.code = 'ENOTFOUND';
        callback(e, []);
        return;
      }
      callback(
        null,
        answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
    });
  }) as LookupAll & { calls: string[] };
  fn.calls = [];
  return fn;
}

/** Addresses a connect may go to without leaving this machine. */
const LOCAL_TARGETS = new Set(['127.0.0.1', '::1', '0.0.0.0', '::', '::ffff:127.0.0.1', '::ffff:7f00:1']);

interface Tripwire {
  /**
   * `address:port` of every TCP connect this process was about to make since the last reset:
   * literals when net.connect / tls.connect is called, names once their lookup has answered.
   */
  attempts: string[];
  /** While armed, a connect to anything not local goes to 127.0.0.1 instead. */
  armed: boolean;
  restore(): void;
}

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;
type AnyLookup = (hostname: string, options: object, callback: LookupCallback) => void;

/**
 * Watches the socket layer undici uses (net.connect, tls.connect). A guard that failed would
 * show up here as an attempt. While armed, a connect to a non-local literal goes to the sink on
 * 127.0.0.1 (where it is counted), and a name's non-local answers are swapped for 127.0.0.1:
 * a broken guard fails the test without sending traffic to 10/8, 169.254.169.254 or anywhere
 * else off this machine.
 */
function installTripwire(sinkPort: () => number): Tripwire {
  const originals = { net: net.connect, tls: tls.connect };
  const wire: Tripwire = {
    attempts: [],
    armed: false,
    restore() {
      Reflect.set(net, 'connect', originals.net);
      Reflect.set(tls, 'connect', originals.tls);
    },
  };
  const watchLookup =
    (lookup: AnyLookup, port: unknown): AnyLookup =>
    (hostname, options, callback) =>
      lookup(hostname, options, (err, address, family) => {
        if (err) return callback(err, address, family);
        const list = Array.isArray(address) ? address : [{ address, family: family ?? 4 }];
        for (const a of list) wire.attempts.push(`${a.address}:${String(port)}`);
        if (!wire.armed) return callback(null, address, family);
        const safe = list.map((a) =>
          LOCAL_TARGETS.has(a.address) ? a : { address: '127.0.0.1', family: 4 },
        );
        return Array.isArray(address)
          ? callback(null, safe)
          : callback(null, safe[0]!.address, safe[0]!.family);
      });
  const wrap = (target: object, original: (...args: never[]) => unknown) =>
    function (this: unknown, ...args: unknown[]): unknown {
      const first = args[0];
      if (typeof first === 'object' && first !== null) {
        const o = first as { host?: string; port?: number; lookup?: AnyLookup };
        const host = String(o.host);
        if (isIP(host) !== 0) {
          wire.attempts.push(`${host}:${o.port}`);
          if (wire.armed && !LOCAL_TARGETS.has(host)) {
            args[0] = { ...o, host: '127.0.0.1', port: sinkPort(), servername: undefined };
          }
        } else if (typeof o.lookup === 'function') {
          args[0] = { ...o, lookup: watchLookup(o.lookup, o.port) };
        } else {
          // A name resolved by the system: never expected here.
          wire.attempts.push(`${host}:${o.port} (system DNS)`);
          if (wire.armed) args[0] = { ...o, host: '127.0.0.1', port: sinkPort(), servername: undefined };
        }
      } else {
        wire.attempts.push(String(first));
      }
      return Reflect.apply(original, target, args);
    };
  Reflect.set(net, 'connect', wrap(net, originals.net));
  Reflect.set(tls, 'connect', wrap(tls, originals.tls));
  return wire;
}

/** The refusal says "blocked" and names no address but the URL's own host. */
function expectBlocked(err: unknown, url: string): void {
  expect(err).toBeInstanceOf(BlockedDestinationError);
  expect(err).toBeInstanceOf(PermanentTaskError);
  expect(err).toMatchObject({ code: 'blocked_destination' });
  const message = (err as Error).message;
  expect(message).toMatch(/^destination blocked: /);
  const own = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const rest = message.split(own).join(' ');
  expect(rest, message).not.toMatch(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/);
  expect(rest, message).not.toMatch(/(?:[0-9a-f]{0,4}:){2,}/i);
}

describe('SSRF at connect time: each blocked form gets no connection', () => {
  // A listener on 127.0.0.1 and one on ::1: every local form below points at one of them. The
  // test machine must be able to bind ::1 (CI and this sandbox can); binding fails loudly otherwise.
  let v4: TestServer;
  let v6: TestServer;
  let wire: Tripwire;
  const clients: SafeOutboundClient[] = [];
  const client = (policy: AddressPolicy, lookup: LookupAll) => {
    const c = new SafeOutboundClient({ policy, lookup });
    clients.push(c);
    return c;
  };
  const fill = (template: string) =>
    template.replace('PORT6', String(v6.port)).replace('PORT', String(v4.port));
  const connections = () => v4.connections + v6.connections;
  /** The strict client asked for `url` with the tripwire armed: blocked, no socket, no connection. */
  const expectRefusedWithoutConnecting = async (url: string, lookup: LookupAll) => {
    wire.armed = true;
    const err = await client(strict, lookup)
      .request({ url, method: 'GET', timeoutMs: 2000 })
      .catch((e: unknown) => e);
    wire.armed = false;
    expectBlocked(err, url);
    expect(wire.attempts).toEqual([]);
    expect(connections()).toBe(0);
  };

  beforeAll(async () => {
    v4 = await startServer((_req, _body, res) => res.end('reached'));
    v6 = await startServer((_req, _body, res) => res.end('reached'), '::1');
    wire = installTripwire(() => v4.port);
  });
  beforeEach(() => {
    v4.connections = 0;
    v6.connections = 0;
    wire.attempts.length = 0;
    wire.armed = false;
  });
  afterEach(async () => {
    wire.armed = false;
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    wire?.restore();
    await v4?.close();
    await v6?.close();
  });

  // [URL (PORT: the 127.0.0.1 listener, PORT6: the ::1 listener), listener it reaches, DNS table]
  const LOCAL_FORMS: [string, 'v4' | 'v6', Record<string, string[]>?][] = [
    ['http://127.0.0.1:PORT/', 'v4'],
    ['http://2130706433:PORT/', 'v4'],
    ['http://0x7f000001:PORT/', 'v4'],
    ['http://0177.0.0.1:PORT/', 'v4'],
    ['http://127.1:PORT/', 'v4'],
    ['http://0.0.0.0:PORT/', 'v4'],
    ['http://0:PORT/', 'v4'],
    ['http://[::ffff:127.0.0.1]:PORT/', 'v4'],
    ['http://[::1]:PORT6/', 'v6'],
    ['http://[0:0:0:0:0:0:0:1]:PORT6/', 'v6'],
    ['http://[::]:PORT6/', 'v6'],
    ['http://localhost:PORT/', 'v4', { localhost: ['127.0.0.1'] }],
    ['http://localhost.:PORT/', 'v4', { localhost: ['127.0.0.1'] }],
    ['http://api.localhost:PORT/', 'v4', { 'api.localhost': ['127.0.0.1'] }],
    ['http://internal.test:PORT/', 'v4', { 'internal.test': ['127.0.0.1'] }],
    ['http://internal.test.:PORT/', 'v4', { 'internal.test': ['127.0.0.1'] }],
    ['http://loopback6.test:PORT6/', 'v6', { 'loopback6.test': ['::1'] }],
    ['http://mapped.test:PORT/', 'v4', { 'mapped.test': ['::ffff:127.0.0.1'] }],
  ];

  it.each(LOCAL_FORMS)(
    'refuses %s without connecting; allowed, the same URL reaches the listener',
    async (template, reaches, names) => {
      const url = fill(template);
      const lookup = tableLookup(names);
      await expectRefusedWithoutConnecting(url, lookup);
      const host = new URL(url).hostname;
      if (names && !/(^|\.)localhost\.?$/.test(host)) {
        // A name is judged on its DNS answer, inside the connection's own lookup.
        expect(lookup.calls.length).toBeGreaterThan(0);
      } else {
        // Literals and localhost names are refused without asking any resolver.
        expect(lookup.calls).toEqual([]);
      }

      // The control: with private destinations allowed the very same URL (and resolver) gets
      // through, so the zero above is the guard's doing, not a URL that leads nowhere.
      const res = await client(open, lookup).request({ url, method: 'GET', timeoutMs: 2000 });
      expect(res).toMatchObject({ status: 200, body: 'reached' });
      expect((reaches === 'v4' ? v4 : v6).connections).toBe(1);
    },
  );

  it.each([
    ['http://user@127.0.0.1:PORT/', 'http://127.0.0.1:PORT/'],
    ['http://user:secret@127.0.0.1:PORT/', 'http://127.0.0.1:PORT/'],
    ['http://trusted.example@internal.test:PORT/', 'http://internal.test:PORT/'],
    ['http://user@[::1]:PORT6/', 'http://[::1]:PORT6/'],
  ])('refuses %s (a user name hides the real host) whatever the policy, without connecting', async (t, c) => {
    const url = fill(t);
    const lookup = tableLookup({ 'internal.test': ['127.0.0.1'] });
    wire.armed = true;
    for (const policy of [strict, open]) {
      const err = await client(policy, lookup)
        .request({ url, method: 'GET', timeoutMs: 2000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentTaskError);
      expect(err).toMatchObject({
        code: 'invalid_url',
        message: 'URLs with a user name or password are not allowed',
      });
    }
    wire.armed = false;
    expect(wire.attempts).toEqual([]);
    expect(lookup.calls).toEqual([]);
    expect(connections()).toBe(0);
    // Without the user name the same destination is reachable when allowed.
    const res = await client(open, lookup).request({ url: fill(c), method: 'GET', timeoutMs: 2000 });
    expect(res.body).toBe('reached');
    expect(connections()).toBe(1);
  });

  // Destinations off this machine: refused before any socket is opened (the tripwire would
  // reroute a connect to the 127.0.0.1 listener, where it would be counted).
  const NETWORK_FORMS: [string, Record<string, string[]>?][] = [
    ['http://169.254.169.254/latest/meta-data/'],
    ['http://2852039166/latest/meta-data/'],
    ['http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/'],
    ['http://[::ffff:169.254.169.254]/latest/meta-data/'],
    ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/'],
    ['http://[2002:a9fe:a9fe::1]/latest/meta-data/'],
    ['http://[fd00:ec2::254]/latest/meta-data/'],
    ['http://10.0.0.1/'],
    ['https://10.0.0.1/'],
    ['http://012.1.2.3:8080/'],
    ['http://172.16.0.1/'],
    ['http://172.31.255.254/'],
    ['http://192.168.1.1/'],
    ['http://100.64.0.1/'],
    ['http://192.0.0.170/'],
    ['http://198.18.0.1/'],
    ['http://224.0.0.251/'],
    ['http://240.0.0.1/'],
    ['http://255.255.255.255/'],
    ['http://[fc00::1]/'],
    ['http://[fe80::1]/'],
    ['http://[fec0::1]/'],
    ['http://[ff02::1]/'],
    ['http://[64:ff9b::7f00:1]/'],
    ['http://[2002:7f00:1::]/'],
    ['http://metadata.test/latest/meta-data/', { 'metadata.test': ['169.254.169.254'] }],
    ['http://corp.test/', { 'corp.test': ['10.1.2.3'] }],
    ['https://corp.test/', { 'corp.test': ['10.1.2.3'] }],
    ['http://cgnat.test/', { 'cgnat.test': ['100.64.1.1'] }],
    ['http://ula.test/', { 'ula.test': ['fd00::1'] }],
    ['http://nat64.test/', { 'nat64.test': ['64:ff9b::a9fe:a9fe'] }],
  ];

  it.each(NETWORK_FORMS)('refuses %s before opening a socket', async (url, names) => {
    const lookup = tableLookup(names);
    await expectRefusedWithoutConnecting(url, lookup);
    expect(lookup.calls.length).toBe(names ? 1 : 0);
  });

  it('the tripwire itself sees connects (so its empty list above means something)', async () => {
    wire.armed = true;
    // A non-local literal let through by policy is rerouted to the 127.0.0.1 listener.
    const res = await client(open, tableLookup()).request({
      url: 'http://10.0.0.1/',
      method: 'GET',
      timeoutMs: 2000,
    });
    wire.armed = false;
    expect(res.body).toBe('reached');
    expect(wire.attempts).toEqual(['10.0.0.1:80']);
    expect(v4.connections).toBe(1);

    // A name's answer is seen once resolved, and a non-local one is swapped for 127.0.0.1.
    wire.attempts.length = 0;
    wire.armed = true;
    const named = await client(open, tableLookup({ 'corp.test': ['10.1.2.3'] })).request({
      url: `http://corp.test:${v4.port}/`,
      method: 'GET',
      timeoutMs: 2000,
    });
    wire.armed = false;
    expect(named.body).toBe('reached');
    expect(wire.attempts).toEqual([`10.1.2.3:${v4.port}`]);
    expect(v4.connections).toBe(2);
  });
});

describe('http executor against a reachable server', () => {
  let server: TestServer;
  let client: SafeOutboundClient;
  let run: (ctx: TaskContext) => Promise<unknown>;
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
    run = (ctx) => httpTaskType(open).run(ctx, executorServices({ outbound: client }));
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
          headers: {
            'X-Trace': 't1',
            'idempotency-key': 'mine',
            'Procurator-Attempt': '99',
            // The task's own trace context gives way to the attempt's.
            traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
            tracestate: 'vendor=theirs',
          },
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
      traceparent: ATTEMPT_TRACEPARENT,
    });
    expect(seen.headers.tracestate).toBeUndefined();
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
        { ...httpTaskType(open), type: 'test.http' },
        { ...httpTaskType(strict), type: 'test.http-strict' },
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

  it('cancels a running http task mid-request: the request is aborted, the task ends cancelled', async () => {
    const closed: number[] = [];
    const server = await startServer((req, _body, res) => {
      // '/hang' never answers; the server notes when the client goes away.
      if (req.url === '/hang') res.on('close', () => closed.push(Date.now()));
      else res.end('ok');
    });
    const stack = await startStack({
      queue: 'redis',
      db: 'postgres',
      config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
    });
    try {
      // The built-in type and executor, with the stack's SafeOutboundClient.
      const res = await stack.request('POST', '/v1/tasks', {
        body: {
          type: 'http',
          payload: { url: `${server.url}/hang`, body: { n: 1 }, timeoutMs: 60_000 },
          maxAttempts: 3,
          timeoutMs: 90_000,
        },
      });
      expect(res.status).toBe(202);
      const task = (await res.json()) as TaskView;
      await stack.waitForStatus(task.id, ['running']);
      const deadline = Date.now() + 10_000;
      while (server.requests.length === 0 && Date.now() < deadline) await sleep(20);
      expect(server.requests).toHaveLength(1);
      expect(closed).toEqual([]);

      const cancelledAt = Date.now();
      const cancel = await stack.request('POST', `/v1/tasks/${task.id}/cancel`);
      expect(cancel.status).toBe(202);
      const done = await stack.waitForStatus(task.id, ['cancelled', 'succeeded', 'dead', 'retrying'], 5000);
      expect(done.status).toBe('cancelled');
      expect(done.attempts).toBe(1);
      expect(done.result).toBeNull();
      // The request in flight was aborted (the target saw its connection close), well before
      // either timeout, and no other attempt followed.
      while (closed.length === 0 && Date.now() < cancelledAt + 5000) await sleep(20);
      expect(closed).toHaveLength(1);
      expect(closed[0]! - cancelledAt).toBeLessThan(5000);
      await sleep(300);
      expect(server.requests).toHaveLength(1);
      const events = (await (await stack.request('GET', `/v1/tasks/${task.id}/events`)).json()) as {
        items: { kind: string }[];
      };
      expect(events.items.map((e) => e.kind)).toEqual(['submitted', 'started', 'cancelled']);
      expect((await stack.waitForStatus(task.id, ['cancelled'])).status).toBe('cancelled');
    } finally {
      await stack.stop();
      await server.close();
    }
  });
});
