import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { feishuNotifyTaskType } from '../../lib/catalog/feishu-type';
import { PermanentTaskError, RetryAfterError, RetryableTaskError } from '../../lib/errors';
import { FeishuClient } from '../../lib/feishu/feishu-client';
import { silentLogger } from '../../lib/logger';
import { createFeishuNotifyExecutor } from '../../worker/executors/feishu-notify';
import type { TaskContext } from '../../worker/executors/executor';
import { plainOutbound } from '../helpers/plain-outbound';

const SECRET = 'shared-bot-secret';

/**
 * A stand-in for Feishu's custom-bot webhook on 127.0.0.1. It checks the signature the way
 * Feishu documents it, independently of the client's code: HMAC-SHA256 keyed with
 * `${timestamp}\n${secret}` over an empty message, base64, timestamp within one hour.
 */
interface Received {
  body: Record<string, unknown>;
}
type Mode = 'feishu' | 'http500' | 'http429' | 'rate_limited' | 'bad_request';

let server: Server;
let url: string;
let serverSecret: string | undefined;
let mode: Mode;
let received: Received[];

function expectedSign(timestamp: string, secret: string): string {
  return createHmac('sha256', `${timestamp}\n${secret}`).update(Buffer.alloc(0)).digest('base64');
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
    const { timestamp, sign } = body;
    const fresh = typeof timestamp === 'string' && Math.abs(Date.now() / 1000 - Number(timestamp)) <= 3600;
    if (!fresh || typeof sign !== 'string' || sign !== expectedSign(timestamp, serverSecret)) {
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
      received.push({ body });
      const a = answer(body);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify(a.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/open-apis/bot/v2/hook/test-token`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  serverSecret = SECRET;
  mode = 'feishu';
  received = [];
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

describe('feishu.notify', () => {
  function ctx(payload: unknown): TaskContext {
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
    };
  }

  it('delivers end to end through the executor', async () => {
    const result = await createFeishuNotifyExecutor(client())(ctx({ text: 'deploy finished' }));
    expect(result).toEqual({ delivered: true, code: 0, msg: 'success' });
    expect(received[0]!.body).toMatchObject({ msg_type: 'text', content: { text: 'deploy finished' } });
  });

  it('fails permanently when no webhook is configured', async () => {
    const err = await rejection(createFeishuNotifyExecutor(null)(ctx({ text: 'x' })));
    expect(err).toBeInstanceOf(PermanentTaskError);
    expect(err.message).toBe('FEISHU_WEBHOOK_URL is not configured');
    expect(received).toHaveLength(0);
  });

  it('accepts exactly one of {text} or {card}', () => {
    const schema = feishuNotifyTaskType().payload;
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
