import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { z } from 'zod';

/**
 * Callback signing keys: their shapes, generation, the public half that is published, and the
 * published set (the JWKS). Only asymmetric algorithms: a receiver holds nothing secret, so
 * anyone may verify and only Procurator can sign.
 */

export const SIGNING_ALGORITHMS = ['EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** How long a retired key stays published: receivers may verify (or re-verify) a callback signed just before a rotation. */
export const RETIRED_KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;

/** A key that signs: its id, algorithm and private key. */
export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
}

/** A private key as JWK with what we derived from it. */
export interface PrivateKeyRecord {
  kid: string;
  alg: SigningAlgorithm;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** A key that may be published: the public half, with its retirement time if retired. */
export interface PublishableKey {
  kid: string;
  alg: SigningAlgorithm;
  publicJwk: JWK;
  retiredAt: Date | null;
}

/** The algorithm a key's type and curve call for, or null when we do not sign with such keys. */
export function algorithmFor(jwk: { kty?: unknown; crv?: unknown }): SigningAlgorithm | null {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return null;
}

/** Only the public members: a private `d` (or anything else) must never reach the JWKS. */
export function publicPart(jwk: JWK): JWK {
  const pub: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.y !== undefined) pub.y = jwk.y;
  return pub;
}

/** A fresh Ed25519 key, with its RFC 7638 thumbprint as kid (unique, and the same wherever it is computed). */
export async function generateSigningKey(): Promise<PrivateKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = publicPart(await exportJWK(publicKey));
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg: 'EdDSA', privateJwk, publicJwk };
}

/** Imports a private JWK for signing. */
export async function importSigningKey(record: Pick<PrivateKeyRecord, 'kid' | 'alg' | 'privateJwk'>) {
  const privateKey = await importJWK(record.privateJwk, record.alg);
  if (privateKey instanceof Uint8Array || privateKey.type !== 'private') {
    throw new Error(`signing key ${record.kid} is not a private key`);
  }
  return { kid: record.kid, alg: record.alg, privateKey } satisfies SigningKey;
}

/**
 * The published key set: keys not retired, and retired ones within the grace period, newest
 * first. Each carries `kid`, `alg` and `use: "sig"`, so a verifier selects exactly one key
 * per token and never uses one with another algorithm.
 */
export function buildJwks(
  keys: readonly PublishableKey[],
  now: Date = new Date(),
  graceMs: number = RETIRED_KEY_GRACE_MS,
): JSONWebKeySet {
  return {
    keys: keys
      .filter((k) => k.retiredAt === null || k.retiredAt.getTime() + graceMs > now.getTime())
      .map((k) => ({ ...publicPart(k.publicJwk), kid: k.kid, alg: k.alg, use: 'sig' })),
  };
}

const privateJwkSchema = z.looseObject({
  kty: z.string(),
  crv: z.string(),
  x: z.string().min(1),
  y: z.string().min(1).optional(),
  d: z.string().min(1, { error: 'must be a private key (with "d")' }),
  kid: z.string().min(1).max(200).optional(),
  alg: z.string().optional(),
});
const jwkSetSchema = z.object({ keys: z.array(privateJwkSchema).min(1) });

/** A key from SIGNING_KEYS, checked; `kid` is absent when the JWK has none (see withKids). */
export type ConfiguredKey = Omit<PrivateKeyRecord, 'kid'> & { kid?: string };

/**
 * SIGNING_KEYS, checked at start: a JWK set of private Ed25519 (EdDSA) or P-256 (ES256)
 * keys; the first signs, all are published. Throws a message naming the problem, never a
 * key's value.
 */
export function checkSigningKeys(raw: string): ConfiguredKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('must be a JSON Web Key Set: {"keys":[…]}');
  }
  const result = jwkSetSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(
      `must be a JSON Web Key Set of private keys (${issue?.path.join('.')}: ${issue?.message})`,
    );
  }
  const kids = new Set<string>();
  return result.data.keys.map((jwk, i) => {
    const alg = algorithmFor(jwk);
    if (!alg) throw new Error(`key ${i} must be an Ed25519 (OKP) or P-256 (EC) key`);
    if (jwk.alg !== undefined && jwk.alg !== alg) {
      throw new Error(`key ${i} says alg ${jwk.alg}, but its type signs with ${alg}`);
    }
    if (jwk.kid !== undefined) {
      if (kids.has(jwk.kid)) throw new Error(`two keys have kid ${jwk.kid}`);
      kids.add(jwk.kid);
    }
    const publicJwk = publicPart(jwk);
    return { kid: jwk.kid, alg, privateJwk: { ...publicJwk, d: jwk.d }, publicJwk };
  });
}

/** Gives keys without a kid their RFC 7638 thumbprint. */
export async function withKids(keys: readonly ConfiguredKey[]): Promise<PrivateKeyRecord[]> {
  return Promise.all(
    keys.map(async (k) => ({ ...k, kid: k.kid ?? (await calculateJwkThumbprint(k.publicJwk)) })),
  );
}
