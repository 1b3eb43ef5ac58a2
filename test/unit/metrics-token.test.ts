import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

const METRICS_TOKEN = 'scrape-secret-0123456789abcdef';

describe('/metrics with METRICS_TOKEN set', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false, config: { METRICS_TOKEN } });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('is 401 problem+json without it, with a wrong one, or with an API token', async () => {
    for (const [token, headers] of [
      [null, {}],
      ['scrape-secret-wrong', {}],
      [`${METRICS_TOKEN}x`, {}],
      [stack.adminToken, {}],
      [null, { Authorization: 'Basic c2NyYXBlOnNlY3JldA==' }],
    ] as const) {
      const res = await stack.request('GET', '/metrics', { token, headers });
      expect(res.status, String(token)).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.text()).not.toContain('procurator_');
    }
  });

  it('is 200 Prometheus text with it, as a bearer token or in X-API-Token', async () => {
    for (const res of [
      await stack.request('GET', '/metrics', {
        token: null,
        headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
      }),
      await stack.request('GET', '/metrics', { token: METRICS_TOKEN }),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      expect(await res.text()).toContain('procurator_http_requests_total');
    }
  });
});

describe('/metrics without METRICS_TOKEN', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false });
  });
  afterAll(async () => {
    await stack.stop();
  });

  it('is open: 200 with no token', async () => {
    const res = await stack.request('GET', '/metrics', { token: null });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('procurator_http_requests_total');
  });
});
