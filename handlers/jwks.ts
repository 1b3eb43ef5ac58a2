import type { SigningKeyStore } from '../lib/signing/key-store';
import type { Api } from './api';
import { routes } from './routes';

/**
 * `GET /.well-known/jwks.json`: the public keys that verify callback signatures, no
 * authentication. Read from the key store on every request (one small query), so a rotation
 * made by any process is published by every API at once; the short max-age only spares
 * receivers, and jose refetches anyway when a token names a kid it has not seen.
 */
export function jwksRoutes(app: Api, d: { signingKeys: Pick<SigningKeyStore, 'publicJwks'> }): void {
  app.openapi(routes.getJwks.route, async (c) => {
    const jwks = await d.signingKeys.publicJwks();
    c.header('Cache-Control', 'public, max-age=60');
    return c.json(jwks, 200);
  });
}
