import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWSAlgorithm } from 'jose';
import {
  CALLBACK_ISSUER,
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  bodyDigest,
} from './callback-signature';

/**
 * For receivers of Procurator's callbacks: checks a callback request the way it was signed
 * (callback-signature.ts). Depends on jose and Web APIs only, so a receiver can copy this
 * file and the one it imports.
 */

/** The only algorithms accepted: pinning them is what refuses `alg: none` and HS256 keyed with a public key. */
export const CALLBACK_ALGORITHMS: JWSAlgorithm[] = ['EdDSA', 'ES256'];

/** A callback whose signature, claims and body all checked out. */
export interface VerifiedCallback {
  /** `task.succeeded`, `task.dead` or `task.cancelled`. */
  event: string;
  /** Unique per delivery and the same on its retries: de-duplicate on it. */
  deliveryId: string;
  /** The task as it ended (API.md task object). */
  task: { id: string; status: string } & Record<string, unknown>;
  /** The key that signed it. */
  kid: string;
  claims: JWTPayload & { body: string };
}

/** The request is not a genuine, fresh, untampered callback; `message` says which check failed. */
export class CallbackVerificationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CallbackVerificationError';
  }
}

export interface CallbackVerifierOptions {
  /** Allowed clock difference between Procurator and the receiver, in seconds (default 30). */
  clockToleranceSeconds?: number;
  /**
   * The callback URL this receiver is registered under, which the token's `aud` must name.
   * Default: the request's own URL — set it when a proxy in front changes what the receiver
   * sees (TLS ended at a load balancer, a path rewritten).
   */
  audience?: string;
}

/**
 * A verifier bound to one key source: the JWKS URL (fetched and cached by jose, refetched when
 * a token names an unknown kid) or any jose key resolver such as createLocalJWKSet(…).
 */
export function createCallbackVerifier(
  keys: string | URL | JWTVerifyGetKey,
  opts: CallbackVerifierOptions = {},
): (request: Request) => Promise<VerifiedCallback> {
  const resolve = typeof keys === 'function' ? keys : createRemoteJWKSet(new URL(keys));
  return (request) =>
    verifyWith(request, resolve, opts.clockToleranceSeconds ?? 30, opts.audience ?? request.url);
}

// One resolver (and so one JWKS cache) per URL, so verifying each request does not refetch
// the key set. Receivers use one or two URLs; the bound only stops a misuse from growing it.
const verifiers = new Map<string, (request: Request) => Promise<VerifiedCallback>>();
const MAX_CACHED_URLS = 16;

/**
 * Verifies a callback request against the JWKS at `jwksUrl` (Procurator's
 * `/.well-known/jwks.json`). Reads the request's body. Throws CallbackVerificationError.
 */
export function verifyCallback(request: Request, jwksUrl: string): Promise<VerifiedCallback> {
  let verifier = verifiers.get(jwksUrl);
  if (!verifier) {
    if (verifiers.size >= MAX_CACHED_URLS) verifiers.clear();
    verifier = createCallbackVerifier(jwksUrl);
    verifiers.set(jwksUrl, verifier);
  }
  return verifier(request);
}

async function verifyWith(
  request: Request,
  keys: JWTVerifyGetKey,
  clockTolerance: number,
  audience: string,
): Promise<VerifiedCallback> {
  const token = request.headers.get(SIGNATURE_HEADER);
  if (!token) throw new CallbackVerificationError(`no ${SIGNATURE_HEADER} header`);
  // The exact bytes received: the digest is over them, not over a re-serialised JSON.
  const body = new Uint8Array(await request.arrayBuffer());

  let claims: JWTPayload;
  let kid: string | undefined;
  try {
    const verified = await jwtVerify(token, keys, {
      algorithms: CALLBACK_ALGORITHMS,
      issuer: CALLBACK_ISSUER,
      // A token made for another receiver (replayed here by that receiver, or by anyone who
      // saw it) names another URL.
      audience,
      requiredClaims: ['iat', 'exp', 'sub', 'jti', 'aud', 'body'],
      clockTolerance,
    });
    claims = verified.payload;
    kid = verified.protectedHeader.kid;
  } catch (err) {
    const { code, claim } = err as { code?: unknown; claim?: unknown };
    const why =
      typeof code !== 'string'
        ? err instanceof Error
          ? err.message
          : String(err)
        : typeof claim === 'string'
          ? `${code}: the ${claim} claim`
          : code;
    throw new CallbackVerificationError(`the signature does not verify (${why})`, { cause: err });
  }
  if (typeof claims.body !== 'string' || claims.body !== (await bodyDigest(body))) {
    throw new CallbackVerificationError('the body does not match the signature (tampered or re-encoded)');
  }
  const delivery = request.headers.get(DELIVERY_HEADER);
  if (delivery !== null && delivery !== claims.jti) {
    throw new CallbackVerificationError(`${DELIVERY_HEADER} does not match the signature`);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new CallbackVerificationError('the body is not JSON');
  }
  const { event, task } = (parsed ?? {}) as { event?: unknown; task?: VerifiedCallback['task'] };
  if (typeof event !== 'string' || typeof task !== 'object' || task === null || task.id !== claims.sub) {
    throw new CallbackVerificationError('the body is not a callback for the task the signature names');
  }
  const eventHeader = request.headers.get(EVENT_HEADER);
  if (eventHeader !== null && eventHeader !== event) {
    throw new CallbackVerificationError(`${EVENT_HEADER} does not match the body`);
  }
  return {
    event,
    deliveryId: claims.jti!,
    task,
    kid: kid ?? '',
    claims: claims as VerifiedCallback['claims'],
  };
}
