import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ROLES } from '../../handlers/route-roles';
import { ROLES, hasRole } from '../../lib/auth/roles';
import type { Role } from '../../lib/auth/roles';
import { generateToken, isWellFormedToken } from '../../lib/auth/tokens';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Every /v1 route of ROUTE_ROLES (and HEAD for each GET route, which Hono answers with the
// GET handler) × every kind of caller, generated from the table: a caller with the role gets
// the route's own success status, one without gets 403, a bad token 401. A route added to
// the table fails here until it has a fixture below saying how to call it and what it answers.

let stack: Stack;
const tokens = {} as Record<Role | 'revoked', string>;

beforeAll(async () => {
  stack = await startStack({ worker: false });
  for (const role of ROLES) tokens[role] = (await stack.user(role, `matrix-${role}`)).token;
  const revoked = await stack.user('admin', 'matrix-revoked');
  tokens.revoked = revoked.token;
  expect((await stack.request('DELETE', `/v1/users/${revoked.id}`)).status).toBe(204);
});
afterAll(async () => {
  await stack.stop();
});

/** One call of a route: where, with what body, and the status a caller with the role gets. */
interface Call {
  path: string;
  body?: unknown;
  status: number;
}

/** A task of the matrix dev (so dev, ops and admin all see it), delayed: it can be cancelled. */
async function devTask(): Promise<string> {
  const res = await stack.request('POST', '/v1/tasks', {
    token: tokens.dev,
    body: { type: 'demo.echo', delayMs: 600_000 },
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as TaskView).id;
}

/** A dead task of the matrix dev, for the DLQ routes. */
async function deadTask(): Promise<string> {
  const id = await devTask();
  await stack.database.rows(
    sql`UPDATE tasks SET status = 'dead', finished_at = now() WHERE id = ${id}::uuid`,
  );
  return id;
}

/** A schedule of the matrix dev (dev, ops and admin all reach it). */
async function devSchedule(): Promise<string> {
  const res = await stack.request('POST', '/v1/schedules', {
    token: tokens.dev,
    body: { name: `matrix-schedule-${++made}`, cron: '0 3 * * *', task: { type: 'demo.echo' } },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

let made = 0;
const freshUser = async () => (await stack.user('dev', `matrix-target-${++made}`)).id;

/**
 * How to call each route so that it succeeds, with fresh fixtures per call: each cell stands
 * alone (a cancel, a rotation or a replay consumes its target).
 */
const fixtures: Record<string, () => Call | Promise<Call>> = {
  'POST /v1/tasks': () => ({ path: '/v1/tasks', body: { type: 'demo.echo' }, status: 202 }),
  'POST /v1/tasks/batch': () => ({
    path: '/v1/tasks/batch',
    body: { tasks: [{ type: 'demo.echo' }] },
    status: 202,
  }),
  'GET /v1/tasks': () => ({ path: '/v1/tasks', status: 200 }),
  'GET /v1/tasks/:id': async () => ({ path: `/v1/tasks/${await devTask()}`, status: 200 }),
  'POST /v1/tasks/:id/cancel': async () => ({ path: `/v1/tasks/${await devTask()}/cancel`, status: 200 }),
  'GET /v1/tasks/:id/events': async () => ({ path: `/v1/tasks/${await devTask()}/events`, status: 200 }),
  'GET /v1/system/info': () => ({ path: '/v1/system/info', status: 200 }),
  'GET /v1/system/queues': () => ({ path: '/v1/system/queues', status: 200 }),
  'GET /v1/me': () => ({ path: '/v1/me', status: 200 }),
  'GET /v1/logs': () => ({ path: '/v1/logs', status: 200 }),
  // A stream lasts until closed: past the role check, a task nobody knows is 404 (the
  // stream's own tests are test/integration/log-stream.test.ts).
  'GET /v1/logs/stream': () => ({
    path: '/v1/logs/stream?taskId=00000000-0000-7000-8000-000000000000',
    status: 404,
  }),
  'POST /v1/users': () => ({
    path: '/v1/users',
    body: { name: `matrix-new-${++made}`, role: 'dev' },
    status: 201,
  }),
  'GET /v1/users': () => ({ path: '/v1/users', status: 200 }),
  'POST /v1/users/:id/token': async () => ({ path: `/v1/users/${await freshUser()}/token`, status: 200 }),
  'DELETE /v1/users/:id': async () => ({ path: `/v1/users/${await freshUser()}`, status: 204 }),
  'GET /v1/dlq': () => ({ path: '/v1/dlq', status: 200 }),
  'POST /v1/dlq/replay': async () => ({
    path: '/v1/dlq/replay',
    body: { ids: [await deadTask()] },
    status: 202,
  }),
  'POST /v1/dlq/:id/replay': async () => ({ path: `/v1/dlq/${await deadTask()}/replay`, status: 202 }),
  'DELETE /v1/dlq/:id': async () => ({ path: `/v1/dlq/${await deadTask()}`, status: 204 }),
  'GET /v1/queues': () => ({ path: '/v1/queues', status: 200 }),
  'POST /v1/integrations/alertmanager': () => ({
    path: '/v1/integrations/alertmanager',
    body: {
      version: '4',
      groupKey: '{}:{alertname="MatrixTest"}',
      status: 'firing',
      receiver: 'procurator',
      groupLabels: { alertname: 'MatrixTest' },
      commonLabels: { alertname: 'MatrixTest' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager:9093',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'MatrixTest' },
          annotations: { summary: 'a test' },
          startsAt: '2026-12-01T00:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
        },
      ],
    },
    status: 202,
  }),
  'POST /v1/queues/:name/pause': () => ({ path: '/v1/queues/matrix/pause', status: 200 }),
  'POST /v1/queues/:name/resume': () => ({ path: '/v1/queues/matrix/resume', status: 200 }),
  'POST /v1/schedules': () => ({
    path: '/v1/schedules',
    body: { name: `matrix-new-schedule-${++made}`, cron: '*/5 * * * *', task: { type: 'demo.echo' } },
    status: 201,
  }),
  'GET /v1/schedules': () => ({ path: '/v1/schedules', status: 200 }),
  'GET /v1/schedules/:id': async () => ({ path: `/v1/schedules/${await devSchedule()}`, status: 200 }),
  'PATCH /v1/schedules/:id': async () => ({
    path: `/v1/schedules/${await devSchedule()}`,
    body: { cron: '0 4 * * *' },
    status: 200,
  }),
  'POST /v1/schedules/:id/pause': async () => ({
    path: `/v1/schedules/${await devSchedule()}/pause`,
    status: 200,
  }),
  'POST /v1/schedules/:id/resume': async () => ({
    path: `/v1/schedules/${await devSchedule()}/resume`,
    status: 200,
  }),
  'POST /v1/schedules/:id/trigger': async () => ({
    path: `/v1/schedules/${await devSchedule()}/trigger`,
    status: 202,
  }),
  'DELETE /v1/schedules/:id': async () => ({ path: `/v1/schedules/${await devSchedule()}`, status: 204 }),
  // Past the role check, a queue nobody knows is 404.
  'DELETE /v1/queues/:name': () => ({ path: '/v1/queues/never-was', status: 404 }),
};

const cases = Object.entries(ROUTE_ROLES).flatMap(([key, role]) => {
  const [method, pattern] = key.split(' ') as [string, string];
  const row = { key, method, pattern, role, fixture: key };
  // HEAD runs the GET handler, so it must hold GET's role and answer GET's status.
  return method === 'GET' ? [row, { ...row, key: `HEAD ${pattern}`, method: 'HEAD' }] : [row];
});

/** Well-formed (prefix and checksum right) but never issued: only the database can refuse it. */
const neverIssued = generateToken();

describe('role matrix generated from ROUTE_ROLES', () => {
  it('lists only routes the app has, and the app has no /v1 route outside it', () => {
    const appRoutes = new Set(
      stack.app.routes
        .filter((r) => r.path.startsWith('/v1/') && r.method !== 'ALL')
        .map((r) => `${r.method} ${r.path}`),
    );
    expect([...appRoutes].sort()).toEqual(Object.keys(ROUTE_ROLES).sort());
  });

  it('has a fixture for every route of the table', () => {
    expect(Object.keys(fixtures).sort()).toEqual(Object.keys(ROUTE_ROLES).sort());
  });

  it.each(cases)('$key: the same 401 problem without a valid token', async ({ method, fixture }) => {
    expect(isWellFormedToken(neverIssued)).toBe(true);
    expect(isWellFormedToken(`prc_${'A'.repeat(49)}`)).toBe(false);
    const { path, body } = await fixtures[fixture]!();
    const answers = new Set<string>();
    for (const token of [
      null,
      'prc_not-a-real-token',
      `prc_${'A'.repeat(49)}`,
      neverIssued,
      tokens.revoked,
    ]) {
      const res = await stack.request(method, path, { token, body });
      const what = `${method} ${path} with ${token ? token.slice(0, 10) : 'no token'}`;
      expect(res.status, what).toBe(401);
      expect(res.headers.get('content-type'), what).toContain('application/problem+json');
      expect(res.headers.get('www-authenticate'), what).toBe('Bearer realm="procurator"');
      answers.add(method === 'HEAD' ? '' : (await res.text()).replace(/"requestId":"[^"]*"/, ''));
    }
    expect(answers.size, 'every bad token gets the same answer').toBe(1);
  });

  for (const caller of ROLES) {
    it.each(cases)(`$key as ${caller}`, async ({ method, fixture, role }) => {
      const call = await fixtures[fixture]!();
      const res = await stack.request(method, call.path, { token: tokens[caller], body: call.body });
      const what = `${caller} on ${method} ${call.path}: ${method === 'HEAD' ? '' : await res.clone().text()}`;
      expect(res.headers.get('ratelimit-limit'), 'every /v1 answer carries RateLimit-*').toBeTruthy();
      if (hasRole(caller, role)) {
        expect(res.status, what).toBe(call.status);
        if (method === 'HEAD') expect(await res.text(), 'HEAD answers without a body').toBe('');
        return;
      }
      expect(res.status, what).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      // The refusal changed nothing: the very same call by an admin still succeeds.
      const again = await stack.request(method, call.path, { token: tokens.admin, body: call.body });
      expect(again.status, `admin after ${caller}'s 403 on ${method} ${call.path}`).toBe(call.status);
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
