import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAddress } from '../../handlers/middleware/client-address';
import { MemoryRateLimiter } from '../../lib/ratelimit/memory-rate-limiter';
import type { LimitedStack } from '../helpers/limited-stack';
import { fromAddress, startLimitedStack } from '../helpers/limited-stack';

describe('MemoryRateLimiter (clock injected)', () => {
  it('lets a burst through, refuses, then refills at the rate', async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(() => now);
    const rule = { rate: 2, burst: 3 };
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await limiter.take('k', rule));
    expect(taken.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(taken[3]).toMatchObject({ limit: 3, retryAfterMs: 500, resetMs: 1500 });
    now += 499;
    expect((await limiter.take('k', rule)).allowed).toBe(false);
    now += 1;
    expect(await limiter.take('k', rule)).toMatchObject({ allowed: true, remaining: 0 });
    now += 60_000;
    expect(await limiter.take('k', rule)).toMatchObject({ allowed: true, remaining: 2, resetMs: 500 });
  });

  it('only looks when the cost is 0, and creates no bucket for it', async () => {
    const limiter = new MemoryRateLimiter(() => 0);
    const rule = { rate: 1, burst: 2 };
    for (let i = 0; i < 5; i++)
      expect(await limiter.take('peek', rule, 0)).toMatchObject({ allowed: true, remaining: 2 });
    expect(limiter.size).toBe(0);
    await limiter.take('peek', rule);
    await limiter.take('peek', rule);
    expect((await limiter.take('peek', rule, 0)).allowed).toBe(false);
  });
});

describe('clientAddress', () => {
  const app = (trust: boolean) => new Hono().get('/', (c) => c.text(clientAddress(c, trust)));
  const ask = async (trust: boolean, peer: string, xff?: string) =>
    (
      await app(trust).request('/', { headers: xff ? { 'X-Forwarded-For': xff } : {} }, fromAddress(peer))
    ).text();

  it('is the TCP peer, IPv4-mapped addresses unwrapped, IPv6 grouped by /64', async () => {
    expect(await ask(false, '10.1.2.3')).toBe('10.1.2.3');
    expect(await ask(false, '::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(await ask(false, '2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(await ask(false, '2001:db8:1:2:bbbb::9')).toBe('2001:db8:1:2::/64');
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY, then takes its last entry', async () => {
    expect(await ask(false, '10.0.0.1', '1.2.3.4')).toBe('10.0.0.1');
    expect(await ask(true, '10.0.0.1', '6.6.6.6, 1.2.3.4')).toBe('1.2.3.4');
    expect(await ask(true, '10.0.0.1', 'garbage')).toBe('10.0.0.1');
  });

  it('is "unknown" without a socket (app.request in tests)', async () => {
    expect(await (await app(false).request('/')).text()).toBe('unknown');
  });
});

describe('the API with the memory limiter', () => {
  let stack: LimitedStack;
  beforeAll(async () => {
    stack = await startLimitedStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('answers a burst with RateLimit-* headers, then 429 with Retry-After', async () => {
    const dev = await stack.user('dev');
    const statuses: number[] = [];
    const remaining: (string | null)[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 4; i++) {
      const res = await stack.get('/v1/me', dev.token);
      statuses.push(res.status);
      remaining.push(res.headers.get('ratelimit-remaining'));
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      if (res.status === 429) refused = res;
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(remaining).toEqual(['2', '1', '0', '0']);
    expect(refused!.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused!.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    const metrics = await stack.metrics.registry.getSingleMetricAsString('procurator_rate_limited_total');
    expect(metrics).toMatch(/procurator_rate_limited_total [1-9]/);
    // Another user has its own bucket.
    expect((await stack.get('/v1/me', (await stack.user('dev')).token)).status).toBe(200);
  });

  it('gives a user with its own rateLimitRps that rate and twice it as burst', async () => {
    const res = await stack.request('POST', '/v1/users', {
      body: { name: 'fast', role: 'dev', rateLimitRps: 2 },
    });
    const { token } = (await res.json()) as { token: string };
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await stack.get('/v1/me', token);
      expect(r.headers.get('ratelimit-limit')).toBe('4');
      answers.push(r.status);
    }
    // A token comes back every 500 ms; five in-process requests take far less.
    expect(answers).toEqual([200, 200, 200, 200, 429]);
  });

  it('throttles failed authentication per address, whatever token comes next', async () => {
    const dev = await stack.user('dev');
    for (let i = 0; i < 3; i++) {
      const res = await stack.get('/v1/me', 'prc_wrong', '10.0.0.1');
      expect(res.status).toBe(401);
      expect(res.headers.get('ratelimit-remaining')).toBe(String(2 - i));
    }
    const blocked = await stack.get('/v1/system/info', dev.token, '10.0.0.1');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await stack.get('/v1/me', null, '10.0.0.1')).status).toBe(429);
    // Another address is not affected; nor is anything outside /v1.
    expect((await stack.get('/v1/system/info', dev.token, '10.0.0.2')).status).toBe(200);
    expect((await stack.get('/healthz', null, '10.0.0.1')).status).toBe(200);
  });
});
