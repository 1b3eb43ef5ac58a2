import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { UserView } from '../../lib/auth/user-store';
import type { AuditView } from '../../lib/audit/audit-store';
import { auditFromRow } from '../../lib/audit/audit-store';
import type { TaskView } from '../../lib/tasks/task';
import { captureLogger } from '../helpers/log-capture';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

let stack: Stack;
const logs = captureLogger('trace');
let adminId: string;
/** Every raw token this file sees, to look for afterwards in the database and the logs. */
const seenTokens: string[] = [];

beforeAll(async () => {
  stack = await startStack({ worker: false, logger: logs.logger });
  seenTokens.push(stack.adminToken);
  adminId = ((await (await stack.request('GET', '/v1/me')).json()) as { id: string }).id;
});
afterAll(async () => {
  await stack.stop();
});

async function createUser(body: unknown, headers: Record<string, string> = {}) {
  const res = await stack.request('POST', '/v1/users', { body, headers });
  const json = (await res.json()) as { user: UserView; token: string; errors?: { path: string }[] };
  if (res.status === 201) seenTokens.push(json.token);
  return { status: res.status, ...json };
}

const me = (token: string) => stack.request('GET', '/v1/me', { token });

async function auditOf(action: string, target: string): Promise<AuditView[]> {
  const rows = await stack.database.rows(
    sql`SELECT * FROM audit_log WHERE action = ${action} AND target = ${target} ORDER BY id`,
  );
  return rows.map(auditFromRow);
}

describe('POST /v1/users', () => {
  it('creates a user and shows its token once; the token works at once with its role', async () => {
    const created = await createUser({ name: 'billing', role: 'ops', rateLimitRps: 7 });
    expect(created.status).toBe(201);
    expect(created.user).toMatchObject({ name: 'billing', role: 'ops', rateLimitRps: 7, lastUsedAt: null });
    expect(created.token).toMatch(/^prc_[0-9A-Za-z]{49}$/);
    expect(await (await me(created.token)).json()).toEqual({
      id: created.user.id,
      name: 'billing',
      role: 'ops',
    });
  });

  it('refuses unknown fields, a bad role, an empty name and a bad rateLimitRps with 422', async () => {
    for (const [body, path] of [
      [{ name: 'x1', role: 'dev', tokenHash: 'abc' }, '(body)'],
      [{ name: 'x2', role: 'dev', id: '0190a000-0000-7000-8000-000000000000' }, '(body)'],
      [{ name: 'x3', role: 'root' }, 'role'],
      [{ name: '  ', role: 'dev' }, 'name'],
      [{ name: 'x\u0000y', role: 'dev' }, 'name'],
      [{ name: 'x4', role: 'dev', rateLimitRps: 0 }, 'rateLimitRps'],
      [{ name: 'x5', role: 'dev', rateLimitRps: 1.5 }, 'rateLimitRps'],
      [{ role: 'dev' }, 'name'],
      [[], '(body)'],
    ] as const) {
      const res = await createUser(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.errors?.[0]?.path, JSON.stringify(body)).toBe(path);
    }
  });

  it('treats a __proto__ key as an unknown field: refused, and no prototype touched', async () => {
    const res = await stack.request('POST', '/v1/users', {
      rawBody: '{"name":"proto","role":"dev","__proto__":{"role":"admin","polluted":true}}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const [row] = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM users WHERE name = 'proto'`,
    );
    expect(row!.n).toBe(0);
  });

  it('409 for the name of an active user', async () => {
    expect((await createUser({ name: 'twice', role: 'dev' })).status).toBe(201);
    expect((await createUser({ name: 'twice', role: 'ops' })).status).toBe(409);
  });

  it('415 without JSON, 400 for malformed JSON', async () => {
    const text = await stack.request('POST', '/v1/users', {
      rawBody: 'name=x',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(text.status).toBe(415);
    const bad = await stack.request('POST', '/v1/users', {
      rawBody: '{"name":',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(bad.status).toBe(400);
  });

  it('records user.create with actor, target, time and request id', async () => {
    const before = Date.now();
    const created = await createUser({ name: 'audited', role: 'dev' }, { 'X-Request-Id': 'req-create-1' });
    const [entry] = await auditOf('user.create', created.user.id);
    expect(entry).toMatchObject({
      actorId: adminId,
      actorName: 'test-admin',
      requestId: 'req-create-1',
      data: { name: 'audited', role: 'dev', rateLimitRps: null },
    });
    expect(Date.parse(entry!.at)).toBeGreaterThanOrEqual(before - 1000);
  });
});

describe('GET /v1/users', () => {
  it('lists active users without any token or hash', async () => {
    const created = await createUser({ name: 'listed', role: 'dev' });
    const res = await stack.request('GET', '/v1/users');
    expect(res.status).toBe(200);
    const text = await res.text();
    const { items } = JSON.parse(text) as { items: UserView[] };
    expect(items.find((u) => u.id === created.user.id)).toMatchObject({ name: 'listed', role: 'dev' });
    expect(text).not.toMatch(/token_?hash/i);
    expect(text).not.toContain(created.token);
    const [row] = await stack.database.rows<{ h: string }>(
      sql`SELECT token_hash AS h FROM users WHERE id = ${created.user.id}::uuid`,
    );
    expect(text).not.toContain(row!.h);
    expect(Object.keys(items[0]!).sort()).toEqual(
      ['createdAt', 'id', 'lastUsedAt', 'name', 'rateLimitRps', 'role', 'tokenRotatedAt'].sort(),
    );
  });
});

describe('POST /v1/users/:id/token', () => {
  it('gives a new token; the old one is refused on the very next request', async () => {
    const created = await createUser({ name: 'rotating', role: 'dev' });
    // Used once, so that it sits in the auth cache.
    expect((await me(created.token)).status).toBe(200);
    const res = await stack.request('POST', `/v1/users/${created.user.id}/token`, {
      headers: { 'X-Request-Id': 'req-rotate-1' },
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    seenTokens.push(token);
    expect(token).not.toBe(created.token);
    expect((await me(created.token)).status).toBe(401);
    expect(await (await me(token)).json()).toMatchObject({ id: created.user.id, role: 'dev' });
    const [entry] = await auditOf('user.rotate_token', created.user.id);
    expect(entry).toMatchObject({ actorId: adminId, requestId: 'req-rotate-1' });
    const listed = (await (await stack.request('GET', '/v1/users')).json()) as { items: UserView[] };
    expect(listed.items.find((u) => u.id === created.user.id)?.tokenRotatedAt).toBeTruthy();
  });

  it('404 for an unknown, malformed or deleted user', async () => {
    const gone = await createUser({ name: 'gone-rotate', role: 'dev' });
    expect((await stack.request('DELETE', `/v1/users/${gone.user.id}`)).status).toBe(204);
    for (const id of ['0190a000-0000-7000-8000-000000000000', 'not-an-id', gone.user.id]) {
      expect((await stack.request('POST', `/v1/users/${id}/token`)).status, id).toBe(404);
    }
  });
});

describe('DELETE /v1/users/:id', () => {
  it('revokes at once and keeps the user’s tasks', async () => {
    const created = await createUser({ name: 'leaving', role: 'dev' });
    const submitted = await stack.request('POST', '/v1/tasks', {
      token: created.token,
      body: { type: 'demo.echo', delayMs: 600_000 },
    });
    const task = (await submitted.json()) as TaskView;
    const res = await stack.request('DELETE', `/v1/users/${created.user.id}`, {
      headers: { 'X-Request-Id': 'req-delete-1' },
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect((await me(created.token)).status).toBe(401);
    const kept = await stack.request('GET', `/v1/tasks/${task.id}`);
    expect(((await kept.json()) as TaskView).createdBy).toBe(created.user.id);
    const listed = (await (await stack.request('GET', '/v1/users')).json()) as { items: UserView[] };
    expect(listed.items.map((u) => u.id)).not.toContain(created.user.id);
    const [entry] = await auditOf('user.revoke', created.user.id);
    expect(entry).toMatchObject({ actorId: adminId, requestId: 'req-delete-1', data: { name: 'leaving' } });
    expect((await stack.request('DELETE', `/v1/users/${created.user.id}`)).status).toBe(404);
    // The name is free again.
    expect((await createUser({ name: 'leaving', role: 'dev' })).status).toBe(201);
  });

  it('409 for an admin deleting itself, 404 for an unknown user', async () => {
    expect((await stack.request('DELETE', `/v1/users/${adminId}`)).status).toBe(409);
    expect((await me(stack.adminToken)).status).toBe(200);
    expect((await stack.request('DELETE', '/v1/users/0190a000-0000-7000-8000-000000000000')).status).toBe(
      404,
    );
    expect((await stack.request('DELETE', '/v1/users/nope')).status).toBe(404);
  });
});

describe('task cancelled by someone other than its owner', () => {
  it('is audited; a cancellation by the owner is not', async () => {
    const dev = await stack.user('dev', 'owner-dev');
    const ops = await stack.user('ops', 'cancelling-ops');
    seenTokens.push(dev.token, ops.token);
    const submit = async () =>
      (
        (await (
          await stack.request('POST', '/v1/tasks', {
            token: dev.token,
            body: { type: 'demo.echo', delayMs: 600_000 },
          })
        ).json()) as TaskView
      ).id;
    const byOps = await submit();
    const byOwner = await submit();
    const res = await stack.request('POST', `/v1/tasks/${byOps}/cancel`, {
      token: ops.token,
      headers: { 'X-Request-Id': 'req-cancel-1' },
    });
    expect(res.status).toBe(200);
    expect((await stack.request('POST', `/v1/tasks/${byOwner}/cancel`, { token: dev.token })).status).toBe(
      200,
    );
    const [entry] = await auditOf('task.cancel', byOps);
    expect(entry).toMatchObject({
      actorId: ops.id,
      requestId: 'req-cancel-1',
      data: { owner: dev.id, outcome: 'cancelled' },
    });
    expect(await auditOf('task.cancel', byOwner)).toEqual([]);
  });
});

describe('last_used_at', () => {
  const lastUsedAt = async (id: string): Promise<string | null> => {
    const [row] = await stack.database.rows<{ at: string | null }>(
      sql`SELECT last_used_at::text AS at FROM users WHERE id = ${id}::uuid`,
    );
    return row!.at;
  };
  /** The write is not awaited by the request (it must not slow it down): poll for it. */
  const changedFrom = async (id: string, previous: string | null): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const at = await lastUsedAt(id);
      if (at !== null && at !== previous) return at;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`last_used_at of ${id} stayed ${previous}`);
  };

  it('is set after a request, written once for many requests within the interval, again after it', async () => {
    const created = await createUser({ name: 'touched', role: 'dev' });
    expect(await lastUsedAt(created.user.id)).toBeNull();
    // Every last_used_at write goes through UserStore.touch (one UPDATE each): count them.
    const touch = vi.spyOn(stack.services.users, 'touch');
    const writes = () => touch.mock.calls.filter(([id]) => id === created.user.id).length;
    try {
      // The first request looks the token up in the database; the next ones use the cache.
      // Both paths must note the use, and neither may write each time.
      expect((await me(created.token)).status).toBe(200);
      const first = await changedFrom(created.user.id, null);
      for (let i = 0; i < 5; i++) expect((await me(created.token)).status).toBe(200);
      expect(writes()).toBe(1);
      expect(await lastUsedAt(created.user.id)).toBe(first);
      const listed = (await (await stack.request('GET', '/v1/users')).json()) as { items: UserView[] };
      expect(listed.items.find((u) => u.id === created.user.id)?.lastUsedAt).toBe(
        new Date(first).toISOString(),
      );

      // Past the interval (60 s) by the authenticator's clock, the next use is written again.
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
      expect((await me(created.token)).status).toBe(200);
      expect((await me(created.token)).status).toBe(200);
      vi.useRealTimers();
      expect(writes()).toBe(2);
      await changedFrom(created.user.id, first);
    } finally {
      vi.useRealTimers();
      touch.mockRestore();
    }
  });
});

describe('raw tokens', () => {
  it('never reach the database: no column of users, tasks, task_events or audit_log holds one', async () => {
    expect(seenTokens.length).toBeGreaterThan(8);
    for (const table of ['users', 'tasks', 'task_events', 'audit_log']) {
      for (const token of seenTokens) {
        // row_to_json covers every column, whatever its type; the random part alone too.
        const [row] = await stack.database.rows<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM ${sql.raw(table)} t
              WHERE row_to_json(t)::text LIKE ${`%${token.slice(4, 40)}%`}`,
        );
        expect(row!.n, `${table} holds a raw token`).toBe(0);
      }
    }
  });

  it('never reach the logs', () => {
    const text = logs.text();
    expect(logs.lines.length).toBeGreaterThan(10);
    for (const token of seenTokens) expect(text).not.toContain(token.slice(4, 40));
  });
});
