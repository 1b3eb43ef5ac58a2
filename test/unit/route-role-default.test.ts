import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Deny by default: a /v1 handler with no ROUTE_ROLES entry is refused to every caller, admin
// included. createApp refuses such routes at start, so these are added afterwards, the way a
// mistake would slip past that check.

let stack: Stack;
let ran = 0;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  // Before any request: Hono's router cannot take routes once it has matched one.
  const handler = () => {
    ran++;
    return new Response('reached', { status: 200 });
  };
  stack.app.get('/v1/unlisted', handler);
  stack.app.all('/v1/any-method', handler);
  stack.app.get('/v1/files/*', handler);
});
afterAll(async () => {
  await stack.stop();
});

describe('a /v1 route missing from ROUTE_ROLES', () => {
  it.each([
    ['GET', '/v1/unlisted'],
    ['HEAD', '/v1/unlisted'],
    ['GET', '/v1/any-method'],
    ['POST', '/v1/any-method'],
    ['DELETE', '/v1/any-method'],
    ['GET', '/v1/files/a/b'],
  ])('%s %s is 403 for an admin, and its handler never runs', async (method, path) => {
    const res = await stack.request(method, path, { token: stack.adminToken });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    if (method !== 'HEAD') expect(await res.text()).not.toContain('reached');
    expect(ran).toBe(0);
  });

  it('still needs a token first (401), and a path no handler matches is still 404', async () => {
    expect((await stack.request('GET', '/v1/unlisted', { token: null })).status).toBe(401);
    expect((await stack.request('GET', '/v1/no-such-route', { token: stack.adminToken })).status).toBe(404);
    expect((await stack.request('HEAD', '/v1/no-such-route', { token: stack.adminToken })).status).toBe(404);
    expect((await stack.request('GET', '/v1/me', { token: stack.adminToken })).status).toBe(200);
    expect(ran).toBe(0);
  });
});
