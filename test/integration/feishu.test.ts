import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TaskContext } from '../../lib/catalog/task-type';
import { testConfig } from '../../lib/config';
import { PermanentTaskError, RetryAfterError, RetryableTaskError } from '../../lib/errors';
import { FeishuClient } from '../../lib/feishu/feishu-client';
import { silentLogger } from '../../lib/logger';
import { addressPolicyFromConfig } from '../../lib/outbound/address-policy';
import type { LookupAll } from '../../lib/outbound/safe-outbound-client';
import { BlockedDestinationError, SafeOutboundClient } from '../../lib/outbound/safe-outbound-client';
import type { TaskView } from '../../lib/tasks/task';
import { feishuNotifyTaskType } from '../../worker/executors/feishu-notify';
import { executorServices } from '../helpers/executor-services';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { plainOutbound } from '../helpers/plain-outbound';

const SECRET = 'shared-bot-secret';

/**
 * A stand-in for Feishu's custom-bot webhook on 127.0.0.1. It checks the signature the way
 * Feishu documents it, independently of the client's code: HMAC-SHA256 keyed with
 * `${timestamp}\n${secret}` over an empty message, base64, timestamp within one hour.
 */
interface Received {
  body: Record<string, unknown>;
  /** The request path, which carries the bot's token. */
  path: string;
  /** Whether the signature checked out (timestamp within an hour, sign as documented). */
  signed: boolean;
}
type Mode = 'feishu' | 'http500' | 'http429' | 'rate_limited' | 'bad_request';

let server: Server;
let port: number;
let url: string;
let serverSecret: string | undefined;
let mode: Mode;
let received: Received[];
/** TCP connections the webhook server accepted, so a test can prove none was opened. */
let connections = 0;

function expectedSign(timestamp: string, secret: string): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update(Buffer.alloc(0)).digest('base64');
}

function signatureValid(body: Record<string, unknown>, secret: string): boolean {
  const { timestamp, sign } = body;
  const fresh = typeof timestamp === 'string' && Math.abs(Date.now() / 1000 - Number(timestamp)) <= 3600;
  return fresh && typeof sign === 'string' && sign === expectedSign(timestamp, secret);
}

function answer(body: Record<string, unknown>): {
  status: number;
  json: unknown;
  headers?: Record<string, string>;
} {
  switch (mode) {
    case 'http500':
      return { status: 500, json: { code: 500, msg: 'internal error' } };
    case 'http429':
      return { status: 429, json: { code: 9499, msg: 'too many request' }, headers: { 'retry-after': '3' } };
    case 'rate_limited':
      return {
        status: 200,
        json: { code: 11232, msg: 'frequency limited psm[lark.oapi.app_platform_runtime]' },
      };
    case 'bad_request':
      return { status: 200, json: { code: 9499, msg: 'Bad Request', data: {} } };
    case 'feishu':
      break;
  }
  if (serverSecret !== undefined) {
    if (!signatureValid(body, serverSecret)) {
      return {
        status: 200,
        json: {
          code: 19021,
          data: {},
          msg: 'sign match fail or timestamp is not within one hour from current time',
        },
      };
    }
  }
  return {
    status: 200,
    json: { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' },
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      received.push({
        body,
        path: req.url ?? '',
        signed: serverSecret !== undefined && signatureValid(body, serverSecret),
      });
      const a = answer(body);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify(a.json));
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  url = `http://127.0.0.1:${port}/open-apis/bot/v2/hook/test-token`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  serverSecret = SECRET;
  mode = 'feishu';
  received = [];
  connections = 0;
});

function client(opts: { secret?: string; now?: () => number; webhookUrl?: string } = { secret: SECRET }) {
  return new FeishuClient({ webhookUrl: url, outbound: plainOutbound(), timeoutMs: 5000, ...opts });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error) => err,
  );
}

/** What a `feishu.notify` executor receives for `payload`. */
function notifyContext(payload: unknown): TaskContext {
  return {
    task: {
      id: 'task-1',
      type: 'feishu.notify',
      queue: 'default',
      payload,
      attempt: 1,
      maxAttempts: 5,
      timeoutMs: 60_000,
      metadata: {},
      createdBy: 'user-1',
    },
    attempt: 1,
    signal: new AbortController().signal,
    logger: silentLogger(),
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  };
}

describe('FeishuClient against a Feishu-like webhook', () => {
  it('sends a signed text message that the bot accepts', async () => {
    await expect(client().send({ text: 'hello from procurator' })).resolves.toEqual({
      code: 0,
      msg: 'success',
    });
    expect(received).toHaveLength(1);
    const body = received[0]!.body;
    expect(body).toMatchObject({ msg_type: 'text', content: { text: 'hello from procurator' } });
    expect(body.timestamp).toMatch(/^\d{10}$/);
    expect(body.sign).toBe(expectedSign(body.timestamp as string, SECRET));
  });

  it('sends a signed interactive card', async () => {
    const card = { header: { title: { tag: 'plain_text', content: 'Hi' } }, elements: [] };
    await expect(client().send({ card })).resolves.toMatchObject({ code: 0 });
    expect(received[0]!.body).toMatchObject({ msg_type: 'interactive', card });
    expect(received[0]!.body.content).toBeUndefined();
  });

  it('reports a wrong secret as a permanent feishu_19021 error', async () => {
    const err = await rejection(client({ secret: 'not-the-secret' }).send({ text: 'x' }));
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(err).toMatchObject({ code: 'feishu_19021' });
    expect(err.message).toContain('sign match fail');
  });

  it('reports a timestamp older than an hour as rejected', async () => {
    const twoHoursAgo = () => Date.now() - 2 * 3600_000;
    const err = await rejection(client({ secret: SECRET, now: twoHoursAgo }).send({ text: 'x' }));
    expect(err).toMatchObject({ name: 'PermanentTaskError', code: 'feishu_19021' });
  });

  it('sends no sign fields without a secret', async () => {
    serverSecret = undefined;
    await client({}).send({ text: 'unsigned' });
    expect(received[0]!.body).toEqual({ msg_type: 'text', content: { text: 'unsigned' } });
  });

  it('treats HTTP 500 as retryable', async () => {
    mode = 'http500';
    const err = await rejection(client().send({ text: 'x' }));
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect(err).not.toBeInstanceOf(PermanentTaskError);
    expect(err).toMatchObject({ code: 'feishu_http_500' });
  });

  it('treats HTTP 429 as retry-after', async () => {
    mode = 'http429';
    const err = await rejection(client().send({ text: 'x' }));
    expect(err).toBeInstanceOf(RetryAfterError);
    expect(err).toMatchObject({ code: 'feishu_http_429', delayMs: 3000 });
  });

  it('treats a rate-limit code in a 200 answer as retryable', async () => {
    mode = 'rate_limited';
    const err = await rejection(client().send({ text: 'x' }));
    expect(err).toBeInstanceOf(RetryableTaskError);
    expect(err).toMatchObject({ code: 'feishu_11232' });
  });

  it('treats code 9499 "Bad Request" as permanent', async () => {
    mode = 'bad_request';
    const err = await rejection(client().send({ text: 'x' }));
    expect(err).toMatchObject({ name: 'PermanentTaskError', code: 'feishu_9499' });
  });

  it('treats a refused connection as retryable, without the webhook URL in the message', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await rejection(
      client({ secret: SECRET, webhookUrl: `http://127.0.0.1:${port}/hook/secret-token` }).send({
        text: 'x',
      }),
    );
    expect(err).toMatchObject({ name: 'RetryableTaskError', code: 'feishu_network' });
    expect(err.message).not.toContain('secret-token');
  });
});

/**
 * The SafeOutboundClient a worker builds from its configuration (OUTBOUND_ALLOW_HOSTS and
 * OUTBOUND_ALLOW_PRIVATE), with a resolver that answers 127.0.0.1 for every name and records
 * the names asked: no query leaves this process.
 */
const safeClients: SafeOutboundClient[] = [];
function safeOutbound(
  config: { OUTBOUND_ALLOW_HOSTS?: string },
  resolved: string[] = [],
): SafeOutboundClient {
  const lookup: LookupAll = (hostname, _options, callback) => {
    resolved.push(hostname);
    setImmediate(() => callback(null, [{ address: '127.0.0.1', family: 4 }]));
  };
  const c = new SafeOutboundClient({ policy: addressPolicyFromConfig(testConfig(config)), lookup });
  safeClients.push(c);
  return c;
}
afterAll(async () => {
  await Promise.all(safeClients.map((c) => c.close()));
});
const botUrl = (host: string) => `http://${host}:${port}/open-apis/bot/v2/hook/test-token`;

describe('FeishuClient through the SafeOutboundClient', () => {
  it('reaches a bot host listed in OUTBOUND_ALLOW_HOSTS, signed as Feishu documents', async () => {
    const resolved: string[] = [];
    const feishu = new FeishuClient({
      webhookUrl: botUrl('feishu.test'),
      secret: SECRET,
      outbound: safeOutbound({ OUTBOUND_ALLOW_HOSTS: 'feishu.test' }, resolved),
      timeoutMs: 5000,
    });
    await expect(feishu.send({ text: 'through the safe client' })).resolves.toEqual({
      code: 0,
      msg: 'success',
    });
    expect(resolved).toEqual(['feishu.test']);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      signed: true,
      path: '/open-apis/bot/v2/hook/test-token',
      body: { msg_type: 'text', content: { text: 'through the safe client' } },
    });
  });

  it('refuses the same bot host when it is not allowed, without connecting or leaking the address', async () => {
    const feishu = new FeishuClient({
      webhookUrl: botUrl('feishu.test'),
      secret: SECRET,
      outbound: safeOutbound({ OUTBOUND_ALLOW_HOSTS: 'other.test' }),
      timeoutMs: 5000,
    });
    const err = await rejection(feishu.send({ text: 'x' }));
    expect(err).toBeInstanceOf(BlockedDestinationError);
    expect(err).toMatchObject({ code: 'blocked_destination', name: 'BlockedDestinationError' });
    expect(err.message).toMatch(/^destination blocked: feishu\.test /);
    expect(err.message).not.toContain('127.0.0.1');
    expect(err.message).not.toContain('test-token');
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('runs feishu.notify through it', async () => {
    const feishu = new FeishuClient({
      webhookUrl: botUrl('feishu.test'),
      secret: SECRET,
      outbound: safeOutbound({ OUTBOUND_ALLOW_HOSTS: 'feishu.test' }),
      timeoutMs: 5000,
    });
    await expect(
      feishuNotifyTaskType.run(notifyContext({ text: 'backup finished' }), executorServices({ feishu })),
    ).resolves.toEqual({
      delivered: true,
      code: 0,
      msg: 'success',
    });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ signed: true, body: { content: { text: 'backup finished' } } });
  });
});

describe('feishu.notify', () => {
  it('delivers end to end through the executor', async () => {
    const result = await feishuNotifyTaskType.run(
      notifyContext({ text: 'deploy finished' }),
      executorServices({ feishu: client() }),
    );
    expect(result).toEqual({ delivered: true, code: 0, msg: 'success' });
    expect(received[0]!.body).toMatchObject({ msg_type: 'text', content: { text: 'deploy finished' } });
  });

  it('fails permanently when no webhook is configured', async () => {
    const err = await rejection(feishuNotifyTaskType.run(notifyContext({ text: 'x' }), executorServices()));
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(err.message).toBe('FEISHU_WEBHOOK_URL is not configured');
    expect(received).toHaveLength(0);
  });

  it('accepts exactly one of {text} or {card}', () => {
    const schema = feishuNotifyTaskType.payload;
    expect(schema.safeParse({ text: 'hi' }).success).toBe(true);
    expect(schema.safeParse({ card: { elements: [] } }).success).toBe(true);
    for (const bad of [
      {},
      { text: '' },
      { text: 'a', card: {} },
      { text: 'a', extra: 1 },
      { card: [] },
      { card: 'x' },
    ]) {
      expect(schema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(schema.safeParse({ text: 'x'.repeat(30_001) }).success).toBe(false);
  });
});

describe('dead-letter alerts end to end (serve and worker processes, Redis, PostgreSQL)', () => {
  // The built worker, configured as an operator would: FEISHU_WEBHOOK_URL and FEISHU_SECRET,
  // with the local bot exempted through OUTBOUND_ALLOW_HOSTS, so the alerts go out through
  // the worker's own SafeOutboundClient. The alerter sends at most one message per 15 s.
  let cluster: Cluster;
  let apiPort: number;
  let token: string;

  beforeAll(async () => {
    cluster = await startCluster({
      label: 'feishu-dlq',
      workers: 1,
      env: {
        WORKER_METRICS_PORT: '0',
        FEISHU_WEBHOOK_URL: `http://127.0.0.1:${port}/open-apis/bot/v2/hook/dlq-token`,
        FEISHU_SECRET: SECRET,
        OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
      },
    });
    apiPort = cluster.ports[0]!;
    token = cluster.token;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const submit = async (body: Record<string, unknown>) => {
    const res = await callApi(apiPort, token, 'POST', '/v1/tasks', body);
    expect(res.status).toBe(202);
    return res.body as unknown as TaskView;
  };

  it('sends one signed message for a batch of dead tasks, naming type, queue, error and how to replay', async () => {
    const defaults = await Promise.all(
      [1, 2, 3].map(() =>
        submit({ type: 'demo.fail', payload: { message: 'upstream said no', retryable: false } }),
      ),
    );
    const billing = await submit({
      type: 'demo.fail',
      queue: 'billing',
      payload: { message: 'card declined', retryable: false },
    });
    const all = [...defaults, billing];
    for (const t of all) await waitForTaskStatus(apiPort, token, t.id, ['dead']);

    const deadline = Date.now() + 30_000;
    while (received.length === 0 && Date.now() < deadline) await sleep(100);
    // Another second: a second message now would mean the alerts are not batched.
    await sleep(1000);
    expect(received).toHaveLength(1);
    const [alert] = received;
    expect(alert!.path).toBe('/open-apis/bot/v2/hook/dlq-token');
    // Verified by the server, independently of lib/feishu: the bot accepted it.
    expect(alert!.signed).toBe(true);
    expect(alert!.body).toMatchObject({ msg_type: 'text' });
    const text = (alert!.body.content as { text: string }).text;
    expect(text).toContain('Procurator: 4 tasks dead-lettered since the last alert.');
    expect(text).toContain('- demo.fail on queue default: 3');
    expect(text).toContain('- demo.fail on queue billing: 1');
    expect(text).toContain(`- ${billing.id} (demo.fail, billing): card declined`);
    expect(text).toMatch(/\(demo\.fail, default\): upstream said no/);
    expect(text).toContain('- one task: POST /v1/dlq/<id>/replay');
    const worker = cluster.workers[0]!;
    await worker.waitFor((l) => l.includes('dead-letter alert sent') && l.includes('"count":4'), 5000);

    // The replay the alert suggests does what it says.
    const hint = /POST \/v1\/dlq\/replay with (\{.*\})/.exec(text);
    expect(hint, text).not.toBeNull();
    const filter = JSON.parse(hint![1]!) as Record<string, unknown>;
    expect(filter).toEqual({ type: 'demo.fail', queue: 'default' });
    const replay = await callApi(apiPort, token, 'POST', '/v1/dlq/replay', filter);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ replayed: 3 });
  });
});
