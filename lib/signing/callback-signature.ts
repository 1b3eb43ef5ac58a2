import { SignJWT, base64url } from 'jose';
import type { SigningKey } from './keys';

/**
 * The callback signature (API.md, "Callbacks"): a JWT in `Procurator-Signature` whose `body`
 * claim is the SHA-256 of the exact request body, so the token vouches for these bytes and
 * nothing else. Shared by the signer (worker) and the verifier (receivers). Web Crypto only.
 */

export const CALLBACK_ISSUER = 'procurator';
/** A token's lifetime: long enough for a slow network, short enough that a captured one soon dies. */
export const CALLBACK_TOKEN_TTL_SECONDS = 300;

export const EVENT_HEADER = 'Procurator-Event';
export const DELIVERY_HEADER = 'Procurator-Delivery';
export const SIGNATURE_HEADER = 'Procurator-Signature';

/** base64url (no padding) of the SHA-256 of `body`. */
export async function bodyDigest(body: string | Uint8Array): Promise<string> {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

export interface CallbackClaims {
  taskId: string;
  deliveryId: string;
  /** The callback URL the request goes to: the token's `aud`, so it cannot be replayed elsewhere. */
  url: string;
  /** The exact bytes (or UTF-8 text) that will be sent as the body. */
  body: string | Uint8Array;
}

/** Signs one request of a delivery: iss, sub (task id), aud (URL), iat, exp (+5 min), jti (delivery id), body. */
export async function signCallback(
  key: SigningKey,
  claims: CallbackClaims,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({ body: await bodyDigest(claims.body) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(CALLBACK_ISSUER)
    .setSubject(claims.taskId)
    .setAudience(claims.url)
    .setJti(claims.deliveryId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + CALLBACK_TOKEN_TTL_SECONDS)
    .sign(key.privateKey);
}
