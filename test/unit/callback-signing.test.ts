import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import type { JSONWebKeySet, JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, testConfig } from '../../lib/config';
import type { Database } from '../../lib/db/client';
import { signCallback } from '../../lib/signing/callback-signature';
import { standardWebhookHeaders } from '../../lib/signing/standard-webhooks';
import { signingKeyStore } from '../../lib/signing/key-store';
import type { PrivateKeyRecord, SigningKey } from '../../lib/signing/keys';
import {
  RETIRED_KEY_GRACE_MS,
  buildJwks,
  checkSigningKeys,
  generateSigningKey,
  importSigningKey,
} from '../../lib/signing/keys';
import {
  CallbackVerificationError,
  createCallbackVerifier,
  verifyCallback,
} from '../../lib/signing/verify-callback';
import { callbackRetryDelay } from '../../worker/callback-deliverer';

// A JWKS server on 127.0.0.1 whose key set each test may change (a fresh URL per set, since
// verifyCallback caches one resolver per URL).
let server: Server;
let base: string;
const sets = new Map<string, JSONWebKeySet>();
let oldKey: PrivateKeyRecord;
let newKey: PrivateKeyRecord;
let signer: SigningKey;
let jwksUrl: string;

function publish(jwks: JSONWebKeySet): string {
  const name = `/jwks-${sets.size}.json`;
  sets.set(name, jwks);
  return `${base}${name}`;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const jwks = sets.get(req.url ?? '');
    res.writeHead(jwks ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(jwks ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  oldKey = await generateSigningKey();
  newKey = await generateSigningKey();
  signer = await importSigningKey(newKey);
  jwksUrl = publish(
    buildJwks([
      { kid: newKey.kid, alg: 'EdDSA', publicJwk: newKey.publicJwk, retiredAt: null },
      { kid: oldKey.kid, alg: 'EdDSA', publicJwk: oldKey.publicJwk, retiredAt: new Date() },
    ]),
  );
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const TASK_ID = '01900000-0000-7000-8000-000000000001';
const DELIVERY_ID = '01900000-0000-7000-8000-0000000000aa';

function callbackBody(taskId = TASK_ID): string {
  return JSON.stringify({ event: 'task.succeeded', task: { id: taskId, status: 'succeeded' } });
}

const HOOK = 'http://receiver.test/hook';

function request(token: string, body: string, headers: Record<string, string> = {}, url = HOOK): Request {
  return new Request(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Procurator-Event': 'task.succeeded',
      'Procurator-Delivery': DELIVERY_ID,
      'Procurator-Signature': token,
      ...headers,
    },
    body,
  });
}

async function signed(key: SigningKey = signer, body = callbackBody(), nowMs?: number): Promise<string> {
  return signCallback(key, { taskId: TASK_ID, deliveryId: DELIVERY_ID, url: HOOK, body }, nowMs);
}

async function rejects(req: Request, message: RegExp): Promise<void> {
  const err = await verifyCallback(req, jwksUrl).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CallbackVerificationError);
  expect((err as Error).message).toMatch(message);
}

describe('verifyCallback', () => {
  it('accepts a genuine callback and says what it is', async () => {
    const body = callbackBody();
    const v = await verifyCallback(request(await signed(), body), jwksUrl);
    expect(v).toMatchObject({ event: 'task.succeeded', deliveryId: DELIVERY_ID, kid: newKey.kid });
    expect(v.task.id).toBe(TASK_ID);
    expect(v.claims).toMatchObject({ iss: 'procurator', sub: TASK_ID, jti: DELIVERY_ID, aud: HOOK });
    expect(v.claims.exp! - v.claims.iat!).toBe(300);
  });

  it('refuses a callback replayed to another receiver: the token names the URL it was sent to', async () => {
    const body = callbackBody();
    await rejects(
      request(await signed(), body, {}, 'http://elsewhere.test/hook'),
      /ERR_JWT_CLAIM_VALIDATION_FAILED.*aud|aud/,
    );
    const noAudience = await new SignJWT({ body: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: newKey.kid })
      .setIssuer('procurator')
      .setSubject(TASK_ID)
      .setJti(DELIVERY_ID)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer.privateKey);
    await rejects(request(noAudience, body), /aud/);
  });

  it('lets a receiver behind a proxy name the public URL it is called at', async () => {
    const body = callbackBody();
    const verify = createCallbackVerifier(jwksUrl, { audience: HOOK });
    const atInternal = request(await signed(), body, {}, 'http://10.0.0.7:4000/hook');
    await expect(verify(atInternal)).resolves.toMatchObject({ deliveryId: DELIVERY_ID });
  });

  it('accepts a token signed by a retired key that is still published', async () => {
    const old = await importSigningKey(oldKey);
    await expect(verifyCallback(request(await signed(old), callbackBody()), jwksUrl)).resolves.toBeTruthy();
  });

  it('refuses a tampered body', async () => {
    const token = await signed();
    await rejects(request(token, callbackBody().replace('succeeded"}', 'dead"}')), /body does not match/);
    await rejects(request(token, `${callbackBody()} `), /body does not match/);
  });

  it('refuses an expired token', async () => {
    await rejects(
      request(await signed(signer, callbackBody(), Date.now() - 10 * 60_000), callbackBody()),
      /ERR_JWT_EXPIRED/,
    );
  });

  it('refuses alg none', async () => {
    const body = callbackBody();
    const good = (await signed(signer, body)).split('.');
    const header = base64url.encode(JSON.stringify({ alg: 'none', kid: newKey.kid }));
    await rejects(request(`${header}.${good[1]}.`, body), /does not verify/);
  });

  it('refuses HS256 keyed with the public key', async () => {
    const body = callbackBody();
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode((await signed()).split('.')[1]!)));
    for (const secret of [
      new TextEncoder().encode(JSON.stringify(newKey.publicJwk)),
      base64url.decode(newKey.publicJwk.x!),
    ]) {
      const token = await new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256', kid: newKey.kid })
        .sign(secret);
      await rejects(request(token, body), /ERR_JOSE_ALG_NOT_ALLOWED/);
    }
  });

  it('refuses an unknown kid and a key that is not published', async () => {
    const stranger = await importSigningKey(await generateSigningKey());
    await rejects(request(await signed(stranger), callbackBody()), /ERR_JWKS_NO_MATCHING_KEY/);
    await rejects(request(await signed({ ...stranger, kid: newKey.kid }), callbackBody()), /does not verify/);
  });

  it('refuses a missing signature, another issuer, or headers that disagree with the token', async () => {
    const body = callbackBody();
    await rejects(request('', body), /no Procurator-Signature/);
    const foreign = await new SignJWT({ body: 'x' })
      .setProtectedHeader({ alg: 'EdDSA', kid: newKey.kid })
      .setIssuer('someone-else')
      .setSubject(TASK_ID)
      .setJti(DELIVERY_ID)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer.privateKey);
    await rejects(request(foreign, body), /ERR_JWT_CLAIM_VALIDATION_FAILED/);
    await rejects(request(await signed(), body, { 'Procurator-Delivery': 'another' }), /Procurator-Delivery/);
    await rejects(request(await signed(), body, { 'Procurator-Event': 'task.dead' }), /Procurator-Event/);
    const otherTask = callbackBody('01900000-0000-7000-8000-000000000002');
    const token = await signCallback(signer, {
      taskId: TASK_ID,
      deliveryId: DELIVERY_ID,
      url: HOOK,
      body: otherTask,
    });
    await rejects(request(token, otherTask), /not a callback for the task/);
  });
});

describe('buildJwks', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  it('publishes public halves with kid, alg and use, current and recently retired keys only', () => {
    const jwks = buildJwks(
      [
        { kid: 'a', alg: 'EdDSA', publicJwk: { ...newKey.privateJwk }, retiredAt: null },
        { kid: 'b', alg: 'EdDSA', publicJwk: oldKey.publicJwk, retiredAt: new Date(now.getTime() - 1000) },
        {
          kid: 'c',
          alg: 'EdDSA',
          publicJwk: oldKey.publicJwk,
          retiredAt: new Date(now.getTime() - RETIRED_KEY_GRACE_MS - 1),
        },
      ],
      now,
    );
    expect(jwks.keys.map((k) => k.kid)).toEqual(['a', 'b']);
    for (const k of jwks.keys) {
      expect(k).not.toHaveProperty('d');
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    }
  });
});

describe('SIGNING_KEYS', () => {
  const noDatabase = {} as Database;
  const storeFor = (raw: string) => signingKeyStore(testConfig({ SIGNING_KEYS: raw }), noDatabase);

  it('signs with the first key and publishes all; an ES256 key works too', async () => {
    const ec = await generateKeyPair('ES256', { extractable: true });
    const ecJwk: JWK = { ...(await exportJWK(ec.privateKey)), kid: 'ec-1' };
    const store = storeFor(JSON.stringify({ keys: [ecJwk, newKey.privateJwk] }));
    const key = await store.current();
    expect(key).toMatchObject({ kid: 'ec-1', alg: 'ES256' });
    const jwks = await store.publicJwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual(['ec-1', newKey.kid]);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const url = publish(jwks);
    const body = callbackBody();
    await expect(verifyCallback(request(await signed(key, body), body), url)).resolves.toMatchObject({
      kid: 'ec-1',
    });
    await expect(store.rotate()).rejects.toThrow(/SIGNING_KEYS is set/);
  });

  it.each([
    ['not JSON', 'nope', /JSON Web Key Set/],
    ['no keys', '{"keys":[]}', /JSON Web Key Set/],
    ['a public key', JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] }), /private key/],
    [
      'an RSA key',
      JSON.stringify({ keys: [{ kty: 'RSA', crv: 'x', x: 'a', d: 'b' }] }),
      /Ed25519 .* or P-256/,
    ],
    [
      'a mislabelled key',
      JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'a', d: 'b', alg: 'RS256' }] }),
      /alg RS256/,
    ],
  ])('refuses %s at start', (_what, raw, message) => {
    expect(() => storeFor(raw)).toThrow(ConfigError);
    expect(() => checkSigningKeys(raw)).toThrow(message);
  });
});

describe('callbackRetryDelay', () => {
  it('doubles from the base, caps, and jitters between half and all of the step', () => {
    expect(callbackRetryDelay(1, 1000, 60_000, () => 0)).toBe(500);
    expect(callbackRetryDelay(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(callbackRetryDelay(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(callbackRetryDelay(30, 1000, 60_000, () => 0.5)).toBe(45_000);
  });
});

describe('standardWebhookHeaders', () => {
  it('signs id.timestamp.body with the Ed25519 key (v1a), and leaves the signature out for ES256', async () => {
    const headers = await standardWebhookHeaders(signer, {
      id: DELIVERY_ID,
      timestampSeconds: 1_800_000_000,
      body: 'x',
    });
    expect(headers).toMatchObject({ 'webhook-id': DELIVERY_ID, 'webhook-timestamp': '1800000000' });
    const sig = Buffer.from(headers['webhook-signature']!.slice(4), 'base64');
    const pub = createPublicKey({ key: newKey.publicJwk as JsonWebKey, format: 'jwk' });
    expect(cryptoVerify(null, Buffer.from(`${DELIVERY_ID}.1800000000.x`), pub, sig)).toBe(true);
    expect(cryptoVerify(null, Buffer.from(`${DELIVERY_ID}.1800000001.x`), pub, sig)).toBe(false);

    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const es = await standardWebhookHeaders(
      { kid: 'es', alg: 'ES256', privateKey },
      { id: 'd', timestampSeconds: 1, body: 'x' },
    );
    expect(es).toEqual({ 'webhook-id': 'd', 'webhook-timestamp': '1' });
  });
});
