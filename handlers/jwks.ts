import { Hono } from 'hono';
import type { AppEnv } from './context';

/**
 * `GET /.well-known/jwks.json`: the public keys that verify callback signatures, no
 * authentication. Read from the key store on every request (one small query), so a rotation
 * made by any process is published by every API at once; the short max-age only spares
 * receivers, and jose refetches anyway when a token names a kid it has not seen.
 */
export function jwksRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/.well-known/jwks.json', async (c) => {
    const jwks = await c.get('services').signingKeys.publicJwks();
    c.header('Cache-Control', 'public, max-age=60');
    return c.json(jwks);
  });
  return r;
}
