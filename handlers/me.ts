import { Hono } from 'hono';
import type { AppEnv } from './context';

/** /v1/me: who the token belongs to. */
export function meRouter(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/', (c) => {
    const p = c.get('principal');
    return c.json({ id: p.id, name: p.name, role: p.role });
  });
  return r;
}
