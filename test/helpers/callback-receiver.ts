import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';

/** One request the receiver got, with what its verification found. */
export interface Received {
  /** The path segment after /hook/: tests use one label each. */
  label: string;
  /** The URL it was sent to, as the receiver knows itself (what the token's `aud` must be). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  kid?: string;
  payload?: JWTPayload;
  error?: string;
}

/**
 * What a receiver does (README "Callbacks"), written with plain jose and node:crypto only,
 * independently of lib/signing: pinned algorithms, issuer, expiry, then the body's digest.
 */
export async function receiverVerify(
  headers: IncomingHttpHeaders,
  body: Buffer,
  jwks: JWTVerifyGetKey,
  url: string,
) {
  const token = String(headers['procurator-signature'] ?? '');
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    algorithms: ['EdDSA', 'ES256'],
    issuer: 'procurator',
    audience: url,
  });
  if (payload.body !== createHash('sha256').update(body).digest('base64url')) {
    throw new Error('body mismatch');
  }
  return { payload, kid: protectedHeader.kid };
}

export interface CallbackReceiver {
  /** `http://127.0.0.1:<port>/hook`; append `/<label>`. */
  hookBase: string;
  received: Received[];
  /** 503 answers still to give, per label. */
  failuresLeft: Map<string, number>;
  /** Delay before answering, per label. */
  slowLabels: Map<string, number>;
  /** Where the receiver's key set comes from; set before the first callback arrives. */
  useJwks(url: string): void;
  close(): Promise<void>;
}

/**
 * A receiver on 127.0.0.1 that verifies every request: 401 when verification fails, else 503
 * while a label has failures left, else 204.
 */
export async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const received: Received[] = [];
  const failuresLeft = new Map<string, number>();
  const slowLabels = new Map<string, number>();
  let jwks: JWTVerifyGetKey | undefined;
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const label = (req.url ?? '').split('/')[2] ?? '';
        const r: Received = {
          label,
          url: `${base}${req.url ?? ''}`,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        received.push(r);
        try {
          if (!jwks) throw new Error('no key set yet');
          Object.assign(r, await receiverVerify(r.headers, r.body, jwks, r.url));
        } catch (err) {
          r.error = String(err);
          res.writeHead(401).end();
          return;
        }
        await sleep(slowLabels.get(label) ?? 0);
        const left = failuresLeft.get(label) ?? 0;
        if (left > 0) {
          failuresLeft.set(label, left - 1);
          res.writeHead(503).end('not now');
          return;
        }
        res.writeHead(204).end();
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    hookBase: `${base}/hook`,
    received,
    failuresLeft,
    slowLabels,
    useJwks(url) {
      // No cooldown: right after a rotation the receiver must be able to fetch the new key.
      jwks = createRemoteJWKSet(new URL(url), { cooldownDuration: 0 });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A stack's app on an ephemeral 127.0.0.1 port, for receivers to fetch its JWKS from. */
export async function serveJwks(app: { fetch: (req: Request) => Response | Promise<Response> }): Promise<{
  jwksUrl: string;
  close(): Promise<void>;
}> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: (req) => app.fetch(req), hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
