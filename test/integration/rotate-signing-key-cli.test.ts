import { sql } from 'drizzle-orm';
import { exportJWK, generateKeyPair, createRemoteJWKSet } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCallback } from '../../lib/signing/verify-callback';
import type { TaskView } from '../../lib/tasks/task';
import type { CallbackReceiver, Received } from '../helpers/callback-receiver';
import { receiverVerify, serveJwks, startCallbackReceiver } from '../helpers/callback-receiver';
import { runProcurator } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

/**
 * `procurator rotate-signing-key`, the built command (dist/procurator.js), run against the
 * PostgreSQL database an API and worker are using, while they keep running: the next JWKS
 * request shows the new key first, the previous public key stays published, the next callback
 * is signed with the new key, and a callback signed before the rotation still verifies.
 */

let stack: Stack;
let databaseUrl: string;
let receiver: CallbackReceiver;
let api: Awaited<ReturnType<typeof serveJwks>>;
let jwksUrl: string;

beforeAll(async () => {
  receiver = await startCallbackReceiver();
  stack = await startStack({
    queue: 'redis',
    db: 'postgres',
    config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
    callbacks: { intervalMs: 50, baseDelayMs: 100, maxDelayMs: 400, maxTries: 3, timeoutMs: 5000 },
    postgresUrl: (url) => (databaseUrl = url),
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

async function jwks(): Promise<JSONWebKeySet> {
  const res = await fetch(jwksUrl);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

/** Runs a task with a callback to `label` and returns the one request the receiver got. */
async function deliveredCallback(label: string): Promise<Received> {
  const res = await stack.request('POST', '/v1/tasks', {
    body: { type: 'demo.echo', payload: { label }, callbackUrl: `${receiver.hookBase}/${label}` },
  });
  expect(res.status).toBe(202);
  const t = (await res.json()) as TaskView;
  await stack.waitForStatus(t.id, ['succeeded']);
  const deadline = Date.now() + 15_000;
  let got: Received[] = [];
  while (Date.now() < deadline) {
    got = receiver.received.filter((r) => r.label === label);
    if (got.length > 0) break;
    await sleep(25);
  }
  await sleep(200);
  got = receiver.received.filter((r) => r.label === label);
  expect(got).toHaveLength(1);
  // The receiver verified it against the live JWKS with plain jose.
  expect(got[0]!.error).toBeUndefined();
  expect(got[0]!.payload!.sub).toBe(t.id);
  return got[0]!;
}

function asRequest(r: Received): Request {
  const headers = new Headers({ 'content-type': 'application/json' });
  for (const name of ['procurator-event', 'procurator-delivery', 'procurator-signature']) {
    headers.set(name, String(r.headers[name] ?? ''));
  }
  return new Request(r.url, { method: 'POST', headers, body: r.body });
}

describe('procurator rotate-signing-key', () => {
  it('makes a new key sign while the previous public key stays published and verifies', async () => {
    const before = await deliveredCallback('before');
    const oldKid = before.kid!;
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([oldKid]);

    const run = await runProcurator(['rotate-signing-key'], { DATABASE_URL: databaseUrl });
    expect(run.code, run.stdout).toBe(0);
    const m = /^New signing key (\S+) \(EdDSA\) signs callbacks from now on\.$/m.exec(run.stdout);
    expect(m, run.stdout).not.toBeNull();
    const newKid = m![1]!;
    expect(newKid).not.toBe(oldKid);
    const until = new RegExp(`^Previous key\\(s\\): ${oldKid}; still published until (\\S+)\\.$`, 'm').exec(
      run.stdout,
    );
    expect(until, run.stdout).not.toBeNull();
    const publishedFor = Date.parse(until![1]!) - Date.now();
    expect(publishedFor).toBeGreaterThan(7 * 86_400_000 - 60_000);
    expect(publishedFor).toBeLessThanOrEqual(7 * 86_400_000);

    // The running API publishes the new key first and still the previous one, public parts only.
    const set = await jwks();
    expect(set.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    for (const k of set.keys) {
      expect(k).toMatchObject({ alg: 'EdDSA', use: 'sig', kty: 'OKP', crv: 'Ed25519' });
      expect(k).not.toHaveProperty('d');
    }
    // In the database the old key lost its private half: it can never sign again.
    const rows = await stack.database.rows<{ kid: string; retired: boolean; has_private: boolean }>(sql`
      SELECT kid, retired_at IS NOT NULL AS retired, private_jwk IS NOT NULL AS has_private
      FROM signing_keys ORDER BY created_at`);
    expect(rows).toEqual([
      { kid: oldKid, retired: true, has_private: false },
      { kid: newKid, retired: false, has_private: true },
    ]);

    // A callback signed before the rotation still verifies, with a key set fetched now.
    await expect(
      receiverVerify(before.headers, before.body, createRemoteJWKSet(new URL(jwksUrl)), before.url),
    ).resolves.toMatchObject({ kid: oldKid });
    await expect(verifyCallback(asRequest(before), jwksUrl)).resolves.toMatchObject({ kid: oldKid });

    // The running worker signs the next callback with the new key, without a restart.
    const after = await deliveredCallback('after');
    expect(after.kid).toBe(newKid);
    await expect(
      receiverVerify(after.headers, after.body, createRemoteJWKSet(new URL(jwksUrl)), after.url),
    ).resolves.toMatchObject({ kid: newKid });
  });

  it('refuses with SIGNING_KEYS set, and changes nothing', async () => {
    const keysBefore = (await jwks()).keys.map((k) => k.kid);
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const signingKeys = JSON.stringify({ keys: [await exportJWK(privateKey)] });
    const run = await runProcurator(['rotate-signing-key'], {
      DATABASE_URL: databaseUrl,
      SIGNING_KEYS: signingKeys,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('procurator: SIGNING_KEYS is set');
    expect(run.stdout).not.toContain(signingKeys);
    expect((await jwks()).keys.map((k) => k.kid)).toEqual(keysBefore);
  });
});
