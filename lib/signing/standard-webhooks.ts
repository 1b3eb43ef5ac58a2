import type { SigningKey } from './keys';

/**
 * The Standard Webhooks headers (https://www.standardwebhooks.com) beside our JWT:
 * `webhook-id` (the delivery id, the same on every try), `webhook-timestamp` (Unix seconds)
 * and `webhook-signature: v1a,<base64 Ed25519 signature of "<id>.<timestamp>.<body>">` — the
 * asymmetric scheme, made with the same Ed25519 key that signs the JWT (same kid in the JWKS).
 * With an ES256 key, which that scheme has no version for, the signature header is left out.
 * Web Crypto only, as callback-signature.ts.
 */

export const WEBHOOK_ID_HEADER = 'webhook-id';
export const WEBHOOK_TIMESTAMP_HEADER = 'webhook-timestamp';
export const WEBHOOK_SIGNATURE_HEADER = 'webhook-signature';

/** What a v1a signature covers: `<id>.<timestamp>.<body>`, the body's exact bytes. */
export function signedContent(id: string, timestampSeconds: number, body: string | Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(`${id}.${timestampSeconds}.`);
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

export async function standardWebhookHeaders(
  key: SigningKey,
  d: { id: string; timestampSeconds: number; body: string | Uint8Array },
): Promise<Record<string, string>> {
  const headers: Record<string, string> = {
    [WEBHOOK_ID_HEADER]: d.id,
    [WEBHOOK_TIMESTAMP_HEADER]: String(d.timestampSeconds),
  };
  if (key.alg === 'EdDSA') {
    const signature = await crypto.subtle.sign(
      'Ed25519',
      key.privateKey,
      signedContent(d.id, d.timestampSeconds, d.body),
    );
    headers[WEBHOOK_SIGNATURE_HEADER] = `v1a,${btoa(String.fromCharCode(...new Uint8Array(signature)))}`;
  }
  return headers;
}
