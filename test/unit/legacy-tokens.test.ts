import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../helpers/log-capture';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// API_TOKENS: the deprecated JSON map token → role, checked after the database.
const OPS_TOKEN = 'legacy-ops-secret-4f9a1c2e7b';
const DEV_TOKEN = 'legacy-dev-secret-83d0be55aa';

let stack: Stack;
const logs = captureLogger('info');

beforeAll(async () => {
  stack = await startStack({
    worker: false,
    logger: logs.logger,
    config: { API_TOKENS: JSON.stringify({ [OPS_TOKEN]: 'ops', [DEV_TOKEN]: 'dev' }) },
  });
});
afterAll(async () => {
  await stack.stop();
});

interface LogLine {
  level: string;
  msg: string;
  role?: string;
}

const warnings = () =>
  logs.lines
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => l.level === 'warn' && /API_TOKENS/.test(l.msg));

describe('legacy API_TOKENS', () => {
  it('authenticate with the role they map to', async () => {
    const ops = await stack.request('GET', '/v1/me', { token: OPS_TOKEN });
    expect(await ops.json()).toMatchObject({ role: 'ops', name: 'legacy ops token' });
    expect((await stack.request('GET', '/v1/system/queues', { token: OPS_TOKEN })).status).toBe(200);
    expect((await stack.request('GET', '/v1/users', { token: OPS_TOKEN })).status).toBe(403);
    expect((await stack.request('GET', '/v1/system/queues', { token: DEV_TOKEN })).status).toBe(403);
    const bearer = await stack.request('GET', '/v1/me', {
      token: null,
      headers: { Authorization: `Bearer ${DEV_TOKEN}` },
    });
    expect(await bearer.json()).toMatchObject({ role: 'dev' });
    expect((await stack.request('GET', '/v1/me', { token: `${OPS_TOKEN}x` })).status).toBe(401);
  });

  it('are rate-limited and answered with RateLimit-* like any user', async () => {
    const res = await stack.request('GET', '/v1/me', { token: DEV_TOKEN });
    expect(res.headers.get('ratelimit-limit')).toBeTruthy();
  });

  it('log a deprecation warning on each use, naming the role and never the token', async () => {
    const before = warnings().length;
    await stack.request('GET', '/v1/me', { token: OPS_TOKEN });
    await stack.request('GET', '/v1/me', { token: DEV_TOKEN });
    const fresh = warnings().slice(before);
    expect(fresh.map((w) => w.role)).toEqual(['ops', 'dev']);
    expect(fresh[0]!.msg).toMatch(/deprecated/);
    const text = logs.text();
    expect(text).not.toContain(OPS_TOKEN);
    expect(text).not.toContain(DEV_TOKEN);
    expect(text).not.toContain('secret-4f9a');
  });
});
