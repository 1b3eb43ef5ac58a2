import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, startCluster } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { testRedis } from '../helpers/redis';
import { revocationKey } from '../../lib/auth/redis-token-revocations';

// Two `serve` processes on one Redis and one PostgreSQL: a token rotated or revoked through
// one is refused by the other on the very next request, although the other has it cached.

describe('token rotation and revocation across two API processes', () => {
  let cluster: Cluster;
  let portA: number;
  let portB: number;
  let admin: string;

  beforeAll(async () => {
    cluster = await startCluster({
      label: 'revoke',
      serves: 2,
      // Every refused old token is a failed authentication from 127.0.0.1: not what this tests.
      env: { AUTH_FAILURES_PER_MINUTE: '1000' },
    });
    [portA, portB] = cluster.ports as [number, number];
    admin = cluster.token;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  async function newUser(name: string): Promise<{ id: string; token: string }> {
    const res = await callApi(portA, admin, 'POST', '/v1/users', { name, role: 'dev' });
    expect(res.status).toBe(201);
    return { id: (res.body.user as { id: string }).id, token: String(res.body.token) };
  }

  it('rotation through A: the old token is refused by B on the next request, the new one works', async () => {
    const user = await newUser('rotated');
    let token = user.token;
    for (let round = 0; round < 5; round++) {
      // B and A have the current token cached.
      expect((await callApi(portB, token, 'GET', '/v1/me')).status).toBe(200);
      expect((await callApi(portA, token, 'GET', '/v1/me')).status).toBe(200);
      const [via, other] = round % 2 === 0 ? [portA, portB] : [portB, portA];
      const rotated = await callApi(via, admin, 'POST', `/v1/users/${user.id}/token`);
      expect(rotated.status).toBe(200);
      const fresh = String(rotated.body.token);
      expect((await callApi(other, token, 'GET', '/v1/me')).status, `round ${round}`).toBe(401);
      expect((await callApi(via, token, 'GET', '/v1/me')).status).toBe(401);
      expect((await callApi(other, fresh, 'GET', '/v1/me')).body).toMatchObject({ id: user.id });
      token = fresh;
    }
  });

  it('concurrent rotations through both: exactly one of the tokens they gave out works', async () => {
    const user = await newUser('raced');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        callApi(i % 2 ? portA : portB, admin, 'POST', `/v1/users/${user.id}/token`),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(200));
    const tokens = [user.token, ...answers.map((r) => String(r.body.token))];
    const working = [];
    for (const token of tokens) {
      const [viaA, viaB] = [
        await callApi(portA, token, 'GET', '/v1/me'),
        await callApi(portB, token, 'GET', '/v1/me'),
      ];
      expect(viaA.status).toBe(viaB.status);
      if (viaA.status === 200) working.push(token);
    }
    expect(working).toHaveLength(1);
  });

  it('deletion through A: B refuses the token on the next request; the user’s tasks remain', async () => {
    const user = await newUser('deleted');
    const task = await callApi(portB, user.token, 'POST', '/v1/tasks', {
      type: 'demo.echo',
      delayMs: 600_000,
    });
    expect(task.status).toBe(202);
    expect((await callApi(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    expect((await callApi(portA, admin, 'DELETE', `/v1/users/${user.id}`)).status).toBe(204);
    expect((await callApi(portB, user.token, 'GET', '/v1/me')).status).toBe(401);
    expect((await callApi(portA, user.token, 'GET', '/v1/me')).status).toBe(401);
    const kept = await callApi(portB, admin, 'GET', `/v1/tasks/${String(task.body.id)}`);
    expect(kept.body).toMatchObject({ createdBy: user.id, status: 'scheduled' });
  });

  it('the mark is what B obeys: with it removed, B would still accept the old token from its cache', async () => {
    // The control experiment: B really caches, so without the revocation mark the cache
    // would be stale. (Its entry expires after 30 s; this runs well within that.)
    const user = await newUser('control');
    expect((await callApi(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    const rotated = await callApi(portA, admin, 'POST', `/v1/users/${user.id}/token`);
    expect(rotated.status).toBe(200);
    const redis = testRedis();
    const hash = createHash('sha256').update(user.token).digest('hex');
    expect(await redis.del(revocationKey(cluster.prefix, hash))).toBe(1);
    redis.disconnect();
    expect((await callApi(portB, user.token, 'GET', '/v1/me')).status).toBe(200);
    // A forgot the token itself when it rotated it: it asks the database, which refuses.
    expect((await callApi(portA, user.token, 'GET', '/v1/me')).status).toBe(401);
  });
});
