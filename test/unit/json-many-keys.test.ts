import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JSON_LIMITS } from '../../lib/json-limits';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// Bodies that are small in bytes but huge in values: every one gets a 4xx problem, never a
// 500, and nothing is stored. MAX_BODY_BYTES is raised so that the value count, not the
// byte limit, is what refuses them.

const KEYS = 250_000;
let stack: Stack;
let dev: { id: string; token: string };

beforeAll(async () => {
  stack = await startStack({ worker: false, config: { MAX_BODY_BYTES: String(16 * 1024 * 1024) } });
  dev = await stack.user('dev', 'many-keys');
});
afterAll(async () => {
  await stack.stop();
});

/** `{"k0":0,"k1":0,…}` with n members, written by hand (no giant object in the test). */
function manyKeys(n: number): string {
  const parts: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) parts[i] = `"k${i}":0`;
  return `{${parts.join(',')}}`;
}

async function post(path: string, rawBody: string, token = dev.token) {
  expect(rawBody.length).toBeLessThan(16 * 1024 * 1024);
  const res = await stack.request('POST', path, {
    token,
    rawBody,
    headers: { 'Content-Type': 'application/json' },
  });
  const text = await res.text();
  return {
    res,
    text,
    body: JSON.parse(text) as { status: number; errors?: { path: string; message: string }[] },
  };
}

function expectRefused(r: Awaited<ReturnType<typeof post>>, status: number, echoChecked = true): void {
  expect(r.res.status, r.text.slice(0, 300)).toBe(status);
  expect(r.res.headers.get('content-type')).toContain('application/problem+json');
  expect(r.body.status).toBe(status);
  // The answer names the problem without echoing the document back.
  if (echoChecked) expect(r.text.length).toBeLessThan(4096);
}

const taskCount = async () =>
  (await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`))[0]!.n;

describe(`a JSON body with ${KEYS} keys`, () => {
  it('in a task payload: 422 naming the payload and the value limit', async () => {
    expect(KEYS).toBeGreaterThan(DEFAULT_JSON_LIMITS.maxNodes);
    const before = await taskCount();
    const r = await post('/v1/tasks', `{"type":"demo.echo","payload":${manyKeys(KEYS)}}`);
    expectRefused(r, 422);
    expect(r.body.errors).toContainEqual({
      path: 'payload',
      message: `has more than ${DEFAULT_JSON_LIMITS.maxNodes} values`,
    });
    expect(await taskCount()).toBe(before);
  });

  it('in task metadata, and as a million array items: 422', async () => {
    const meta = await post('/v1/tasks', `{"type":"demo.echo","metadata":${manyKeys(KEYS)}}`);
    expectRefused(meta, 422);
    expect(meta.body.errors?.map((e) => e.path)).toContain('metadata');
    const items = await post('/v1/tasks', `{"type":"demo.echo","payload":{"a":[${'0,'.repeat(999_999)}0]}}`);
    expectRefused(items, 422);
    expect(items.body.errors?.map((e) => e.path)).toContain('payload');
  });

  it('in a batch item: 422 naming the index', async () => {
    const r = await post(
      '/v1/tasks/batch',
      `{"tasks":[{"type":"demo.echo"},{"type":"demo.echo","payload":${manyKeys(KEYS)}}]}`,
    );
    expectRefused(r, 422);
    expect(r.body.errors?.map((e) => e.path)).toContain('tasks[1].payload');
  });

  it('as unknown top-level fields of a submission: 422, without listing them all', async () => {
    const before = await taskCount();
    const r = await post('/v1/tasks', manyKeys(KEYS).replace('{', '{"type":"demo.echo",'));
    expectRefused(r, 422);
    expect(r.body.errors).toEqual([
      {
        path: '(body)',
        message: `unknown field(s): ${[...Array(10).keys()].map((i) => `k${i}`).join(', ')} and ${KEYS - 10} more`,
      },
    ]);
    expect(await taskCount()).toBe(before);
  });

  it('as the body of other JSON routes: a 4xx problem', async () => {
    const admin = stack.adminToken;
    // These routes still list every unknown key in their answer (see unknownFieldsMessage),
    // so only the status is held here.
    expectRefused(await post('/v1/users', manyKeys(KEYS), admin), 422, false);
    expectRefused(await post('/v1/dlq/replay', manyKeys(KEYS), admin), 422, false);
  });
});
