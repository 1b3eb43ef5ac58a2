import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ROLES } from '../../handlers/route-roles';
import { ROLES, hasRole } from '../../lib/auth/roles';
import type { Role } from '../../lib/auth/roles';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Every /v1 route of ROUTE_ROLES × every kind of caller, generated from the table itself,
// so a route added to the table is tested here without anyone writing a line.

let stack: Stack;
const tokens = {} as Record<Role | 'revoked', string>;
let taskId: string;
let targetUserId: string;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  for (const role of ROLES) tokens[role] = (await stack.user(role, `matrix-${role}`)).token;
  const revoked = await stack.user('admin', 'matrix-revoked');
  tokens.revoked = revoked.token;
  expect((await stack.request('DELETE', `/v1/users/${revoked.id}`)).status).toBe(204);
  targetUserId = (await stack.user('dev', 'matrix-target')).id;
  // Delayed, so that cancelling it is a real state change (and the next cancel a 409).
  const res = await stack.request('POST', '/v1/tasks', { body: { type: 'demo.echo', delayMs: 600_000 } });
  taskId = ((await res.json()) as TaskView).id;
});
afterAll(async () => {
  await stack.stop();
});

/** A concrete path for a route pattern: real ids where the route names one. */
function concrete(pattern: string): string {
  return pattern
    .replace(/^\/v1\/users\/:id/, `/v1/users/${targetUserId}`)
    .replace(/\/:id\b/, `/${taskId}`)
    .replace(/\/:name\b/, '/default')
    .replace(/\/:[A-Za-z]+/g, '/00000000-0000-7000-8000-000000000000');
}

let created = 0;
/** A body the route accepts (or refuses with 4xx on its merits, never for lack of a role). */
function bodyFor(method: string, pattern: string): unknown {
  if (method !== 'POST') return undefined;
  if (pattern === '/v1/tasks') return { type: 'demo.echo' };
  if (pattern === '/v1/tasks/batch') return { tasks: [{ type: 'demo.echo' }] };
  if (pattern === '/v1/users') return { name: `matrix-new-${++created}`, role: 'dev' };
  return {};
}

const cases = Object.entries(ROUTE_ROLES).map(([key, role]) => {
  const [method, pattern] = key.split(' ') as [string, string];
  return { key, method, pattern, role };
});

describe('role matrix generated from ROUTE_ROLES', () => {
  it('lists only routes the app has, and the app has no /v1 route outside it', () => {
    const appRoutes = new Set(
      stack.app.routes
        .filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path}`),
    );
    expect([...appRoutes].sort()).toEqual(Object.keys(ROUTE_ROLES).sort());
  });

  it.each(cases)('$key: 401 without a valid token', async ({ method, pattern }) => {
    const path = concrete(pattern);
    const body = bodyFor(method, pattern);
    for (const token of [null, 'prc_not-a-real-token', `prc_${'A'.repeat(49)}`, tokens.revoked]) {
      const res = await stack.request(method, path, { token, body });
      expect(res.status, `${method} ${path} with ${token ? 'a bad' : 'no'} token`).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });

  for (const caller of ROLES) {
    it.each(cases)(`$key as ${caller}`, async ({ method, pattern, role }) => {
      const path = concrete(pattern);
      const res = await stack.request(method, path, {
        token: tokens[caller],
        body: bodyFor(method, pattern),
      });
      if (hasRole(caller, role)) {
        expect([401, 403], `${caller} on ${method} ${path}: ${res.status}`).not.toContain(res.status);
        expect(res.status, `${caller} on ${method} ${path}`).toBeLessThan(500);
      } else {
        expect(res.status, `${caller} on ${method} ${path}`).toBe(403);
      }
      expect(res.headers.get('ratelimit-limit'), 'every /v1 answer carries RateLimit-*').toBeTruthy();
    });
  }
});

describe('another dev’s task (BOLA)', () => {
  let a: { id: string; token: string };
  let b: { id: string; token: string };
  let task: TaskView;

  beforeAll(async () => {
    a = await stack.user('dev', 'bola-a');
    b = await stack.user('dev', 'bola-b');
    const res = await stack.request('POST', '/v1/tasks', {
      token: a.token,
      body: { type: 'demo.echo', delayMs: 600_000, payload: { secret: 'only-for-a' } },
    });
    task = (await res.json()) as TaskView;
  });

  it('is 404 to read, to read its events, to cancel and to filter logs by', async () => {
    for (const [method, path] of [
      ['GET', `/v1/tasks/${task.id}`],
      ['GET', `/v1/tasks/${task.id}/events`],
      ['POST', `/v1/tasks/${task.id}/cancel`],
      ['GET', `/v1/logs?taskId=${task.id}`],
    ] as const) {
      const res = await stack.request(method, path, { token: b.token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.text()).not.toContain('only-for-a');
    }
    const still = await stack.request('GET', `/v1/tasks/${task.id}`, { token: a.token });
    expect(((await still.json()) as TaskView).status).toBe('scheduled');
  });

  it('is absent from lists and from the logs', async () => {
    const list = await stack.request('GET', '/v1/tasks?limit=500', { token: b.token });
    expect(((await list.json()) as { items: TaskView[] }).items.map((t) => t.id)).not.toContain(task.id);
    const logs = await stack.request('GET', '/v1/logs?limit=500', { token: b.token });
    const text = await logs.text();
    expect(logs.status).toBe(200);
    expect(text).not.toContain(task.id);
    expect(text).not.toContain('only-for-a');
  });

  it('stays visible to its owner and to ops', async () => {
    const ops = await stack.user('ops', 'bola-ops');
    for (const token of [a.token, ops.token]) {
      expect((await stack.request('GET', `/v1/tasks/${task.id}/events`, { token })).status).toBe(200);
      const logs = await stack.request('GET', `/v1/logs?taskId=${task.id}`, { token });
      expect(((await logs.json()) as { items: unknown[] }).items.length).toBeGreaterThan(0);
    }
  });
});
