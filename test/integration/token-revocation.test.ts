import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPostgres } from '../helpers/databases';
import type { TestPostgres } from '../helpers/databases';
import { REDIS_URL } from '../helpers/pg-urls';
import { listeningPort, runProcurator, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';
import { deletePrefix, testPrefix, testRedis } from '../helpers/redis';

// Two `serve` processes on one Redis and one PostgreSQL: a token rotated or revoked through
// one is refused by the other on the very next request, although the other has it cached.

async function call(port: number, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'X-API-Token': token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

describe('token rotation and revocation across two API processes', () => {
  let db: TestPostgres;
  let a: Proc;
  let b: Proc;
  let portA: number;
  let portB: number;
  let admin: string;
  const prefix = testPrefix('revoke');

  beforeAll(async () => {
    db = await createTestPostgres();
    const env = {
      DATABASE_URL: db.url,
      QUEUE_BACKEND: 'redis',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      SERVER_PORT: '0',
      SERVER_HOST: '127.0.0.1',
      // Every refused old token is a failed authentication from 127.0.0.1: not what this tests.
      AUTH_FAILURES_PER_MINUTE: '1000',
    };
    const created = await runProcurator(['create-admin', '--name', 'root', '--json'], env);
    expect(created.code).toBe(0);
    admin = (JSON.parse(created.lines.find((l) => l.startsWith('{"id"'))!) as { token: string }).token;
    a = spawnProcurator(['serve'], env);
    b = spawnProcurator(['serve'], env);
    [portA, portB] = await Promise.all([listeningPort(a), listeningPort(b)]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    const r = testRedis();
    await deletePrefix(r, prefix);
    r.disconnect();
    await db?.drop();
  });

  async function newUser(name: string): Promise<{ id: string; token: string }> {
    const res = await call(portA, admin, 'POST', '/v1/users', { name, role: 'dev' });
    expect(res.status).toBe(201);
    return { id: (res.body.user as { id: string }).id, token: String(res.body.token) };
  }

  it('rotation through A: the old token is refused by B on the next request, the new one works', async () => {
    const user = await newUser('rotated');
    let token = user.token;
    for (let round = 0; round < 5; round++) {
      // B and A have the current token cached.
      expect((await call(portB, token, 'GET', '/v1/me')).status).toBe(200);
      expect((await call(portA, token, 'GET', '/v1/me')).status).toBe(200);
      const [via, other] = round % 2 === 0 ? [portA, portB] : [portB, portA];
      const rotated = await call(via, admin, 'POST', `/v1/users/${user.id}/token`);
      expect(rotated.status).toBe(200);
      const fresh = String(rotated.body.token);
      expect((await call(other, token, 'GET', '/v1/me')).status, `round ${round}`).toBe(401);
      expect((await call(via, token, 'GET', '/v1/me')).status).toBe(401);
      expect((await call(other, fresh, 'GET', '/v1/me')).body).toMatchObject({ id: user.id });
      token = fresh;
    }
  });

  it('concurrent rotations through both: exactly one of the tokens they gave out works', async () => {
    const user = await newUser('raced');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call(i % 2 ? portA : portB, admin, 'POST', `/v1/users/${user.id}/token`),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
    const tokens = [user.token, ...answers.map((r) => String(r.body.token))];
    const working = [];
    for (const token of tokens) {
      const [viaA, viaB] = [
        await call(portA, token, 'GET', '/v1/me'),
        await call(portB, token, 'GET', '/v1/me'),
      ];
      expect(viaA.status).toBe(viaB.status);
      if (viaA.status === 200) working.push(token);
    }
    expect(working).toHaveLength(1);
  });

  it('deletion through A: B refuses the token on the next request; the user’s tasks remain', async () => {
    const user = await newUser('deleted');
    const task = await call(portB, user.token, 'POST', '/v1/tasks', { type: 'demo.echo', delayMs: 600_000 });
    expect(task.status).toBe(202);
    expect((await call(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    expect((await call(portA, admin, 'DELETE', `/v1/users/${user.id}`)).status).toBe(204);
    expect((await call(portB, user.token, 'GET', '/v1/me')).status).toBe(401);
    expect((await call(portA, user.token, 'GET', '/v1/me')).status).toBe(401);
    const kept = await call(portB, admin, 'GET', `/v1/tasks/${String(task.body.id)}`);
    expect(kept.body).toMatchObject({ createdBy: user.id, status: 'scheduled' });
  });

  it('the mark is what B obeys: with it removed, B would still accept the old token from its cache', async () => {
    // The control experiment: B really caches, so without the revocation mark the cache
    // would be stale. (Its entry expires after 30 s; this runs well within that.)
    const user = await newUser('control');
    expect((await call(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    const rotated = await call(portA, admin, 'POST', `/v1/users/${user.id}/token`);
    expect(rotated.status).toBe(200);
    const redis = testRedis();
    const hash = createHash('sha256').update(user.token).digest('hex');
    expect(await redis.del(`{${prefix}}:revoked:${hash}`)).toBe(1);
    redis.disconnect();
    expect((await call(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    // A forgot the token itself when it rotated it: it asks the database, which refuses.
    expect((await call(portA, user.token, 'GET', '/v1/me')).status).toBe(401);
  });
});
