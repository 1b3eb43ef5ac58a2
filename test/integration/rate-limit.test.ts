import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/logger';
import { RedisRateLimiter, rateLimitKey } from '../../lib/ratelimit/redis-rate-limiter';
import { callApi, startCluster } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import type { LimitedStack } from '../helpers/limited-stack';
import { startLimitedStack } from '../helpers/limited-stack';
import { captureLogger } from '../helpers/log-capture';
import { testRedis } from '../helpers/redis';
import { Redis } from 'ioredis';

describe('the Redis limiter in one API', () => {
  let stack: LimitedStack;
  beforeAll(async () => {
    stack = await startLimitedStack({ queue: 'redis', db: 'postgres' });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('lets a burst through with RateLimit-* headers, answers 429 with Retry-After, refills', async () => {
    const dev = await stack.user('dev');
    const answers: Response[] = [];
    for (let i = 0; i < 4; i++) answers.push(await stack.get('/v1/me', dev.token));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((r) => r.headers.get('ratelimit-remaining'))).toEqual(['2', '1', '0', '0']);
    for (const r of answers) expect(r.headers.get('ratelimit-limit')).toBe('3');
    const refused = answers[3]!;
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(((await refused.json()) as { status: number }).status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBe(1);
    expect(Number(refused.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(3);
    await sleep(retryAfter * 1000 + 100);
    const again = await stack.get('/v1/me', dev.token);
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit-remaining')).toBe('0');
    const metrics = await stack.metrics.registry.getSingleMetricAsString('procurator_rate_limited_total');
    expect(metrics).toMatch(/procurator_rate_limited_total [1-9]/);
  });

  it('gives a user its own rateLimitRps as rate and twice it as burst', async () => {
    const res = await stack.request('POST', '/v1/users', {
      body: { name: 'fast', role: 'dev', rateLimitRps: 2 },
    });
    const { token } = (await res.json()) as { token: string };
    const answers: Response[] = [];
    for (let i = 0; i < 5; i++) answers.push(await stack.get('/v1/me', token));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 429]);
    expect(answers[0]!.headers.get('ratelimit-limit')).toBe('4');
  });

  it('throttles failed authentication per address', async () => {
    const dev = await stack.user('dev');
    for (let i = 0; i < 3; i++)
      expect((await stack.get('/v1/me', 'prc_guess', '192.0.2.1')).status).toBe(401);
    expect((await stack.get('/v1/me', dev.token, '192.0.2.1')).status).toBe(429);
    expect((await stack.get('/v1/me', dev.token, '192.0.2.2')).status).toBe(200);
  });

  it('keeps each bucket under its own {prefix:key} hash tag, expiring, and writes nothing for a look', async () => {
    const redis = testRedis();
    const prefix = stack.config.REDIS_PREFIX;
    const limiter = new RedisRateLimiter(redis, { prefix }, silentLogger());
    const rule = { rate: 10, burst: 5 };
    expect(await limiter.take('look', rule, 0)).toMatchObject({ allowed: true, remaining: 5 });
    expect(await redis.exists(rateLimitKey(prefix, 'look'))).toBe(0);
    expect(await limiter.take('take', rule)).toMatchObject({ allowed: true, remaining: 4, resetMs: 100 });
    const ttl = await redis.pttl(rateLimitKey(prefix, 'take'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1100);
    redis.disconnect();
  });

  it('falls back to this process’s buckets, with a warning, while Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    dead.on('error', () => undefined);
    const { logger, lines } = captureLogger('info');
    const limiter = new RedisRateLimiter(dead, { prefix: 'nowhere', timeoutMs: 200 }, logger);
    const rule = { rate: 1, burst: 2 };
    const started = Date.now();
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await limiter.take('k', rule));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(lines.filter((l) => l.includes('rate limits now hold per API process'))).toHaveLength(1);
    dead.disconnect();
  });
});

describe('two API processes on one Redis', () => {
  let cluster: Cluster;
  let portA: number;
  let portB: number;
  let admin: string;

  beforeAll(async () => {
    cluster = await startCluster({
      label: 'rl',
      serves: 2,
      env: {
        RATE_LIMIT_RPS: '1',
        RATE_LIMIT_BURST: '10',
        AUTH_FAILURES_PER_MINUTE: '3',
        // Lets this test speak for several client addresses from 127.0.0.1.
        TRUST_PROXY: 'true',
      },
    });
    [portA, portB] = cluster.ports as [number, number];
    admin = cluster.token;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const get = (port: number, token: string, address = '198.51.100.1') =>
    fetch(`http://127.0.0.1:${port}/v1/me`, {
      headers: { 'X-API-Token': token, 'X-Forwarded-For': address },
    });

  it('share one budget: requests split across them hit one limit', async () => {
    const res = await callApi(portA, admin, 'POST', '/v1/users', { name: 'shared', role: 'dev' });
    const { token } = res.body as { token: string };
    const answers: { port: number; status: number; remaining: number }[] = [];
    for (let i = 0; i < 20; i++) {
      const port = i % 2 === 0 ? portA : portB;
      const r = await get(port, token);
      answers.push({ port, status: r.status, remaining: Number(r.headers.get('ratelimit-remaining')) });
    }
    const allowed = answers.filter((x) => x.status === 200);
    // One bucket of 10 (plus at most a token or two refilled while the loop runs), not two.
    expect(allowed.length).toBeGreaterThanOrEqual(10);
    expect(allowed.length).toBeLessThanOrEqual(12);
    expect(answers.slice(0, 10).every((x) => x.status === 200)).toBe(true);
    // The count runs down across both processes: A's answers and B's interleave in one sequence.
    const firstRemaining = answers.slice(0, 10).map((x) => x.remaining);
    expect(firstRemaining).toEqual([...firstRemaining].sort((x, y) => y - x));
    expect(firstRemaining[0]).toBe(9);
    expect(firstRemaining[9]).toBeLessThanOrEqual(1);
    for (const port of [portA, portB]) {
      expect(answers.some((x) => x.port === port && x.status === 429)).toBe(true);
    }
  });

  it('share failed-authentication throttling per address', async () => {
    for (const port of [portA, portB, portA])
      expect((await get(port, 'prc_guess', '203.0.113.7')).status).toBe(401);
    expect((await get(portB, admin, '203.0.113.7')).status).toBe(429);
    expect((await get(portB, admin, '203.0.113.8')).status).toBe(200);
  });

  it('key failures by the connecting address when X-Forwarded-For gives none', async () => {
    for (let i = 0; i < 3; i++) expect((await get(portA, 'prc_guess', 'not-an-address')).status).toBe(401);
    // The address came from the socket (getConnInfo), not a placeholder.
    await cluster.serves[0]!.waitFor(
      (l) => l.includes('failed authentications exhausted') && l.includes('"address":"127.0.0.1"'),
    );
    expect((await get(portB, admin, 'not-an-address')).status).toBe(429);
  });
});
