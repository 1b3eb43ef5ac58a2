import { sql } from 'drizzle-orm';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, base64url, createLocalJWKSet, createRemoteJWKSet } from 'jose';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger';
import type { LookupAll } from '../../lib/outbound/safe-outbound-client';
import { SafeOutboundClient } from '../../lib/outbound/safe-outbound-client';
import { signCallback } from '../../lib/signing/callback-signature';
import { generateSigningKey, importSigningKey } from '../../lib/signing/keys';
import { createCallbackVerifier, verifyCallback } from '../../lib/signing/verify-callback';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import type { CallbackReceiver, Received } from '../helpers/callback-receiver';
import { receiverVerify, serveJwks, startCallbackReceiver } from '../helpers/callback-receiver';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { CallbackDeliverer } from '../../worker/callback-deliverer';

/**
 * Signed completion callbacks end to end over Redis and PostgreSQL: a receiver on 127.0.0.1
 * checks every request the way the README tells receivers to, with plain jose and the app's
 * /.well-known/jwks.json, independently of lib/signing.
 */

let stack: Stack;
let receiver: CallbackReceiver;
let api: Awaited<ReturnType<typeof serveJwks>>;
let hookBase: string;
let jwksUrl: string;
let received: Received[];

beforeAll(async () => {
  receiver = await startCallbackReceiver();
  ({ hookBase, received } = receiver);
  stack = await startStack({
    queue: 'redis',
    db: 'postgres',
    config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
    callbacks: { intervalMs: 50, baseDelayMs: 100, maxDelayMs: 400, maxTries: 5, timeoutMs: 5000 },
  });
  api = await serveJwks(stack.app);
  jwksUrl = api.jwksUrl;
  receiver.useJwks(jwksUrl);
});

afterAll(async () => {
  await stack?.stop();
  await api?.close();
  await receiver?.close();
});

async function submit(body: Record<string, unknown>): Promise<TaskView> {
  const res = await stack.request('POST', '/v1/tasks', { body });
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

async function events(id: string): Promise<TaskEventView[]> {
  const res = await stack.request('GET', `/v1/tasks/${id}/events`);
  return ((await res.json()) as { items: TaskEventView[] }).items;
}

async function task(id: string): Promise<TaskView> {
  return (await (await stack.request('GET', `/v1/tasks/${id}`)).json()) as TaskView;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const callbackKinds = async (id: string) =>
  (await events(id)).filter((e) => e.kind.startsWith('callback_')).map((e) => e.kind);

/** Waits until the task's delivery is settled, then a little longer to catch a duplicate. */
async function settled(id: string): Promise<Received[]> {
  await waitFor('a settled delivery', async () => {
    const rows = await stack.database.rows<{ status: string }>(
      sql`SELECT status FROM callback_deliveries WHERE task_id = ${id}::uuid`,
    );
    return rows.length > 0 && rows.every((r) => r.status !== 'pending') ? true : undefined;
  });
  await sleep(300);
  return received.filter((r) => (JSON.parse(r.body.toString()) as { task: { id: string } }).task.id === id);
}

function asRequest(r: Received, body: Buffer | string = r.body, signature?: string): Request {
  const h = (name: string) => String(r.headers[name] ?? '');
  return new Request(r.url, {
    method: 'POST',
    headers: {
      'content-type': h('content-type'),
      'procurator-event': h('procurator-event'),
      'procurator-delivery': h('procurator-delivery'),
      'procurator-signature': signature ?? h('procurator-signature'),
    },
    body,
  });
}

describe('signed completion callbacks', () => {
  it('delivers one signed callback for a succeeded task, verifiable with plain jose', async () => {
    const t = await submit({ type: 'demo.echo', payload: { a: 1 }, callbackUrl: `${hookBase}/ok` });
    await stack.waitForStatus(t.id, ['succeeded']);
    const [r, ...more] = await settled(t.id);
    expect(more).toHaveLength(0);
    expect(r!.error).toBeUndefined();
    expect(r!.headers['procurator-event']).toBe('task.succeeded');
    expect(r!.headers['content-type']).toBe('application/json');
    const delivery = String(r!.headers['procurator-delivery']);
    expect(delivery).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r!.payload).toMatchObject({ iss: 'procurator', sub: t.id, jti: delivery });
    expect(r!.payload!.exp! - r!.payload!.iat!).toBe(300);
    // The body is the task as the API shows it, and the callback did not change the task.
    const now = await task(t.id);
    expect(JSON.parse(r!.body.toString())).toEqual({ event: 'task.succeeded', task: now });
    expect(now.status).toBe('succeeded');
    const evs = await events(t.id);
    expect(evs.map((e) => e.kind)).toEqual(['submitted', 'started', 'succeeded', 'callback_delivered']);
    expect(evs[3]).toMatchObject({ attempt: 1, data: { deliveryId: delivery, try: 1, status: 204 } });
    await expect(verifyCallback(asRequest(r!), jwksUrl)).resolves.toMatchObject({
      event: 'task.succeeded',
      deliveryId: delivery,
    });
  });

  it('delivers task.dead and task.cancelled (before start and while running) once each', async () => {
    const dead = await submit({
      type: 'demo.fail',
      payload: { retryable: false },
      callbackUrl: `${hookBase}/ends`,
    });
    const waiting = await submit({ type: 'demo.echo', delayMs: 60_000, callbackUrl: `${hookBase}/ends` });
    expect((await stack.request('POST', `/v1/tasks/${waiting.id}/cancel`)).status).toBe(200);
    const running = await submit({
      type: 'demo.sleep',
      payload: { ms: 30_000 },
      callbackUrl: `${hookBase}/ends`,
    });
    await stack.waitForStatus(running.id, ['running']);
    expect((await stack.request('POST', `/v1/tasks/${running.id}/cancel`)).status).toBe(202);
    for (const [t, status] of [
      [dead, 'dead'],
      [waiting, 'cancelled'],
      [running, 'cancelled'],
    ] as const) {
      await stack.waitForStatus(t.id, [status]);
      const got = await settled(t.id);
      expect(got).toHaveLength(1);
      expect(got[0]!.error).toBeUndefined();
      expect(got[0]!.headers['procurator-event']).toBe(`task.${status}`);
      expect(JSON.parse(got[0]!.body.toString())).toMatchObject({
        event: `task.${status}`,
        task: { id: t.id, status },
      });
      expect(await callbackKinds(t.id)).toEqual(['callback_delivered']);
      expect((await task(t.id)).status).toBe(status);
    }
  });

  it('retries a failing receiver with the same delivery id, recording each try', async () => {
    const counted = async (outcome: string) =>
      (await stack.metrics.callbacks.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    const [failedBefore, deliveredBefore] = [await counted('failed'), await counted('delivered')];
    receiver.failuresLeft.set('flaky', 2);
    const t = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/flaky` });
    const ended = await stack.waitForStatus(t.id, ['succeeded']);
    const got = await settled(t.id);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers['procurator-delivery'])).size).toBe(1);
    expect(got.every((r) => r.error === undefined)).toBe(true);
    const evs = (await events(t.id)).filter((e) => e.kind.startsWith('callback_'));
    expect(evs.map((e) => e.kind)).toEqual(['callback_failed', 'callback_failed', 'callback_delivered']);
    expect(evs.map((e) => (e.data as { try: number }).try)).toEqual([1, 2, 3]);
    expect(evs[0]!.data).toMatchObject({ status: 503, final: false });
    // procurator_callbacks_total counts each try by outcome.
    expect((await counted('failed')) - failedBefore).toBe(2);
    expect((await counted('delivered')) - deliveredBefore).toBe(1);
    // Callbacks never touch the task itself.
    const after = await task(t.id);
    expect(after).toEqual(ended);
  });

  it('gives up after maxTries with a final callback_failed, the task untouched', async () => {
    receiver.failuresLeft.set('down', 100);
    const t = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/down` });
    const ended = await stack.waitForStatus(t.id, ['succeeded']);
    expect(await settled(t.id)).toHaveLength(5);
    const evs = (await events(t.id)).filter((e) => e.kind.startsWith('callback_'));
    expect(evs.map((e) => e.kind)).toEqual(Array(5).fill('callback_failed'));
    expect(evs[4]!.data).toMatchObject({ try: 5, final: true });
    const [row] = await stack.database.rows<{ status: string; task: unknown }>(
      sql`SELECT status, task FROM callback_deliveries WHERE task_id = ${t.id}::uuid`,
    );
    expect(row).toEqual({ status: 'failed', task: null });
    expect(await task(t.id)).toEqual(ended);
  });

  it('never holds up the consumer while a receiver is slow', async () => {
    receiver.slowLabels.set('slow', 3000);
    const t = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/slow` });
    await stack.waitForStatus(t.id, ['succeeded']);
    await waitFor('the slow request', () => received.find((r) => r.label === 'slow'));
    const started = Date.now();
    const others = await Promise.all([1, 2, 3].map((n) => submit({ type: 'demo.echo', payload: { n } })));
    for (const o of others) await stack.waitForStatus(o.id, ['succeeded'], 2000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await callbackKinds(t.id)).toEqual([]);
    await settled(t.id);
    expect(await callbackKinds(t.id)).toEqual(['callback_delivered']);
  });

  it('carries the Standard Webhooks headers; the v1a signature verifies with node:crypto and the JWKS key', async () => {
    const t = await submit({ type: 'demo.echo', payload: { sw: true }, callbackUrl: `${hookBase}/standard` });
    await stack.waitForStatus(t.id, ['succeeded']);
    const [r] = await settled(t.id);
    const id = String(r!.headers['webhook-id']);
    const timestamp = String(r!.headers['webhook-timestamp']);
    const signature = String(r!.headers['webhook-signature']);
    expect(id).toBe(r!.headers['procurator-delivery']);
    expect(Number(timestamp)).toBe(r!.payload!.iat);
    expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(60);
    expect(signature).toMatch(/^v1a,[A-Za-z0-9+/]+={0,2}$/);
    // Independently of lib/signing: the published key with the JWT's kid, node:crypto's Ed25519.
    const kid = (
      JSON.parse(
        Buffer.from(String(r!.headers['procurator-signature']).split('.')[0]!, 'base64url').toString(),
      ) as {
        kid: string;
      }
    ).kid;
    const jwks = (await (await stack.app.request('/.well-known/jwks.json')).json()) as JSONWebKeySet;
    const publicKey = createPublicKey({
      key: jwks.keys.find((k) => k.kid === kid) as JsonWebKey,
      format: 'jwk',
    });
    const raw = Buffer.from(signature.slice('v1a,'.length), 'base64');
    const content = (body: Buffer) => Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
    expect(cryptoVerify(null, content(r!.body), publicKey, raw)).toBe(true);
    expect(
      cryptoVerify(null, content(Buffer.from(r!.body.toString().replace('true', 'false'))), publicKey, raw),
    ).toBe(false);
  });

  it('fails verification for a tampered body, an expired token, alg none, HS256 with the public key, an unknown kid', async () => {
    const t = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/forgery` });
    await stack.waitForStatus(t.id, ['succeeded']);
    const [genuine] = await settled(t.id);
    const token = String(genuine!.headers['procurator-signature']);
    const [header, payload] = token.split('.') as [string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as JWTPayload;
    const { kid } = JSON.parse(new TextDecoder().decode(base64url.decode(header))) as { kid: string };
    const jwks = (await (await stack.app.request('/.well-known/jwks.json')).json()) as JSONWebKeySet;
    const published = jwks.keys.find((k) => k.kid === kid)!;
    const key = await stack.services.signingKeys.current();
    const strangerKey = await importSigningKey(await generateSigningKey());
    const body = genuine!.body;
    const ids = { taskId: t.id, deliveryId: String(claims.jti), url: genuine!.url };

    const forged: [string, Buffer | string, string][] = [
      ['tampered body', body.toString().replace('"succeeded"', '"dead"'), token],
      ['expired token', body, await signCallback(key, { ...ids, body }, Date.now() - 10 * 60_000)],
      ['alg none', body, `${base64url.encode(JSON.stringify({ alg: 'none', kid }))}.${payload}.`],
      [
        'HS256 keyed with the public key',
        body,
        await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid })
          .sign(new TextEncoder().encode(JSON.stringify(published))),
      ],
      ['unknown kid', body, await signCallback({ ...strangerKey, kid: 'unknown-kid' }, { ...ids, body })],
      [
        'a key that is not ours under our kid',
        body,
        await signCallback({ ...strangerKey, kid }, { ...ids, body }),
      ],
    ];
    const jwksSet = createRemoteJWKSet(new URL(jwksUrl));
    await expect(receiverVerify(genuine!.headers, body, jwksSet, genuine!.url)).resolves.toBeTruthy();
    for (const [what, b, sig] of forged) {
      const headers = { ...genuine!.headers, 'procurator-signature': sig };
      await expect(receiverVerify(headers, Buffer.from(b), jwksSet, genuine!.url), what).rejects.toThrow();
      await expect(verifyCallback(asRequest(genuine!, b, sig), jwksUrl), what).rejects.toThrow();
    }
  });

  it('keeps old and new keys verifiable across a rotation; new deliveries use the new kid', async () => {
    const before = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/rotation` });
    const [old] = await settled(before.id);
    const oldKid = old!.kid!;
    const rotation = await stack.services.signingKeys.rotate();
    expect(rotation.retired).toEqual([oldKid]);
    const jwks = (await (await stack.app.request('/.well-known/jwks.json')).json()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotation.kid, oldKid]);

    // A token signed with the old key still verifies after the rotation, with a fresh key set.
    await expect(
      receiverVerify(old!.headers, old!.body, createRemoteJWKSet(new URL(jwksUrl)), old!.url),
    ).resolves.toMatchObject({
      kid: oldKid,
    });
    await expect(verifyCallback(asRequest(old!), jwksUrl)).resolves.toMatchObject({ kid: oldKid });

    const after = await submit({ type: 'demo.echo', callbackUrl: `${hookBase}/rotation` });
    const [fresh] = await settled(after.id);
    expect(fresh!.error).toBeUndefined();
    expect(fresh!.kid).toBe(rotation.kid);
    // verifyCallback's cached key set (jose: refetch for an unknown kid at most every 30 s)
    // was loaded before the rotation; a new verifier, as in a receiver started now, sees it.
    await expect(createCallbackVerifier(jwksUrl)(asRequest(fresh!))).resolves.toMatchObject({
      kid: rotation.kid,
    });
  });

  it('delivers each callback once with two workers', async () => {
    await stack.addWorker('worker-2');
    const res = await stack.request('POST', '/v1/tasks/batch', {
      body: {
        tasks: Array.from({ length: 30 }, (_, n) => ({
          type: 'demo.echo',
          payload: { n },
          callbackUrl: `${hookBase}/many`,
        })),
      },
    });
    const ids = ((await res.json()) as { tasks: TaskView[] }).tasks.map((t) => t.id);
    await waitFor('every delivery', async () => {
      const rows = await stack.database.rows<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM callback_deliveries
        WHERE status = 'delivered' AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`);
      return rows[0]!.n === ids.length ? true : undefined;
    });
    await sleep(500);
    const many = received.filter((r) => r.label === 'many');
    expect(many).toHaveLength(ids.length);
    expect(many.every((r) => r.error === undefined)).toBe(true);
    expect(new Set(many.map((r) => r.payload!.sub)).size).toBe(ids.length);
    const rows = await stack.database.rows<{ worker_id: string; n: number }>(sql`
      SELECT worker_id, count(*)::int AS n FROM task_events WHERE kind = 'callback_delivered'
        AND task_id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))
      GROUP BY worker_id`);
    expect(rows.reduce((n, r) => n + r.n, 0)).toBe(ids.length);
  });
});

describe('callback URLs judged at connect time', () => {
  // Its own stack: private destinations blocked (the default), and no deliverer in its workers,
  // so the only one delivering is the deliverer below, whose resolver the test controls.
  let strictStack: Stack;
  let deliverer: CallbackDeliverer;
  let outbound: SafeOutboundClient;
  let hook: {
    port: number;
    connections: number;
    requests: { host: string; body: Buffer; headers: IncomingHttpHeaders }[];
    close(): Promise<void>;
  };
  const resolved: string[] = [];

  beforeAll(async () => {
    // A receiver on 127.0.0.1 that counts connections, so the test can prove none was opened.
    const state = { connections: 0, requests: [] as typeof hook.requests };
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        state.requests.push({
          host: String(req.headers.host),
          body: Buffer.concat(chunks),
          headers: req.headers,
        });
        res.writeHead(204).end();
      });
    });
    server.on('connection', () => state.connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hook = Object.assign(state, {
      port: (server.address() as AddressInfo).port,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    });

    strictStack = await startStack({ queue: 'redis', db: 'postgres' });
    expect(strictStack.config.OUTBOUND_ALLOW_PRIVATE).toBe(false);
    // Both names resolve to the receiver's address; only hooks.allowed.test is exempt, as if
    // listed in OUTBOUND_ALLOW_HOSTS. No query leaves this process.
    const lookup: LookupAll = (hostname, _options, callback) => {
      resolved.push(hostname);
      setImmediate(() => callback(null, [{ address: '127.0.0.1', family: 4 }]));
    };
    outbound = new SafeOutboundClient({
      policy: { allowPrivate: false, allowHosts: ['hooks.allowed.test'] },
      lookup,
    });
    deliverer = new CallbackDeliverer({
      database: strictStack.database,
      outbound,
      keys: strictStack.services.signingKeys,
      logger: silentLogger(),
      workerId: 'strict-deliverer',
      intervalMs: 50,
      baseDelayMs: 100,
      maxDelayMs: 400,
      maxTries: 3,
      timeoutMs: 2000,
    });
    deliverer.start();
  });

  afterAll(async () => {
    await deliverer?.stop();
    await outbound?.close();
    await strictStack?.stop();
    await hook?.close();
  });

  const strictEvents = async (id: string) =>
    (
      (await (await strictStack.request('GET', `/v1/tasks/${id}/events`)).json()) as {
        items: TaskEventView[];
      }
    ).items;
  const deliveryStatus = async (id: string) =>
    (
      await strictStack.database.rows<{ status: string }>(
        sql`SELECT status FROM callback_deliveries WHERE task_id = ${id}::uuid`,
      )
    ).map((r) => r.status);

  it('refuses a callback host that resolves to 127.0.0.1: callback_failed, no connection, task untouched', async () => {
    const res = await strictStack.request('POST', '/v1/tasks', {
      body: {
        type: 'demo.echo',
        payload: { a: 1 },
        callbackUrl: `http://hooks.internal.test:${hook.port}/hook/x`,
      },
    });
    // A name passes the submission check: only its DNS answer shows where it leads.
    expect(res.status).toBe(202);
    const t = (await res.json()) as TaskView;
    const ended = await strictStack.waitForStatus(t.id, ['succeeded']);
    await waitFor('the delivery to be given up', async () =>
      (await deliveryStatus(t.id)).includes('failed') ? true : undefined,
    );
    await sleep(300);

    const evs = (await strictEvents(t.id)).filter((e) => e.kind.startsWith('callback_'));
    expect(evs.map((e) => e.kind)).toEqual(['callback_failed']);
    const data = evs[0]!.data as { try: number; final: boolean; status: unknown; error: string };
    // Refused for good at the first try: a blocked destination does not get better.
    expect(data).toMatchObject({ try: 1, final: true, status: null });
    expect(data.error).toBe(
      'destination blocked: hooks.internal.test resolves to a private, loopback or link-local address',
    );
    expect(JSON.stringify(evs[0])).not.toContain('127.0.0.1');
    expect(await deliveryStatus(t.id)).toEqual(['failed']);
    // It was the connection's own DNS answer that was refused, and nothing reached the receiver.
    expect(resolved).toContain('hooks.internal.test');
    expect(hook.connections).toBe(0);
    expect(hook.requests).toHaveLength(0);
    // The callback's failure is not the task's.
    expect(await strictTask(t.id)).toEqual(ended);
  });

  it('delivers to an allowed name resolving to the same address (the control)', async () => {
    const res = await strictStack.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', callbackUrl: `http://hooks.allowed.test:${hook.port}/hook/y` },
    });
    const t = (await res.json()) as TaskView;
    await strictStack.waitForStatus(t.id, ['succeeded']);
    await waitFor('the delivery', async () =>
      (await deliveryStatus(t.id)).includes('delivered') ? true : undefined,
    );
    expect(hook.connections).toBeGreaterThan(0);
    expect(hook.requests).toHaveLength(1);
    const r = hook.requests[0]!;
    expect(r.host).toBe(`hooks.allowed.test:${hook.port}`);
    const jwks = createLocalJWKSet(await strictStack.services.signingKeys.publicJwks());
    const sentTo = `http://hooks.allowed.test:${hook.port}/hook/y`;
    await expect(receiverVerify(r.headers, r.body, jwks, sentTo)).resolves.toMatchObject({
      payload: { sub: t.id },
    });
    expect((await strictEvents(t.id)).map((e) => e.kind)).toContain('callback_delivered');
  });

  async function strictTask(id: string): Promise<TaskView> {
    return (await (await strictStack.request('GET', `/v1/tasks/${id}`)).json()) as TaskView;
  }
});
