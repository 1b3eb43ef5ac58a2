import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, isWellFormedToken } from '../../lib/auth/tokens';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { path: string; message: string }[];
  requestId?: string;
}

let stack: Stack;
let dev: { id: string; token: string };
let otherDev: { id: string; token: string };

beforeAll(async () => {
  // No worker: these tests look at what the API answers and stores.
  stack = await startStack({ worker: false, config: { MAX_BODY_BYTES: '65536' } });
  dev = await stack.user('dev', 'dev-a');
  otherDev = await stack.user('dev', 'dev-b');
});
afterAll(async () => {
  await stack.stop();
});

async function problem(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.headers.get('x-request-id')).toBeTruthy();
  const body = (await res.json()) as Problem;
  expect(body).toMatchObject({ status, type: expect.stringMatching(/^urn:procurator:problem:/) as string });
  return body;
}

const submit = (body: unknown, token = dev.token, headers: Record<string, string> = {}) =>
  stack.request('POST', '/v1/tasks', { body, token, headers });

describe('authentication and roles', () => {
  it('answers every kind of bad token with the same 401', async () => {
    const revoked = (await stack.user('dev', 'revoked')).token;
    await stack.database.rows(sql`UPDATE users SET deleted_at = now() WHERE name = 'revoked'`);
    // Prefix and checksum right, so it passes the offline check; only the database refuses it.
    const neverIssued = generateToken();
    expect(isWellFormedToken(neverIssued)).toBe(true);
    const badChecksum = `prc_${'A'.repeat(49)}`;
    expect(isWellFormedToken(badChecksum)).toBe(false);
    const bodies: string[] = [];
    for (const token of [null, 'not-a-token', badChecksum, neverIssued, revoked]) {
      const p = await problem(await stack.request('GET', '/v1/me', { token }), 401);
      const { requestId: _, ...rest } = p;
      bodies.push(JSON.stringify(rest));
    }
    expect(bodies).toHaveLength(5);
    expect(new Set(bodies).size).toBe(1);
  });

  it('accepts Authorization: Bearer as well as X-API-Token', async () => {
    const res = await stack.request('GET', '/v1/me', {
      token: null,
      headers: { Authorization: `Bearer ${dev.token}` },
    });
    expect(await res.json()).toEqual({ id: dev.id, name: 'dev-a', role: 'dev' });
  });

  it('refuses a dev on an ops route with 403', async () => {
    await problem(await stack.request('GET', '/v1/system/queues', { token: dev.token }), 403);
    expect((await stack.request('GET', '/v1/system/queues')).status).toBe(200);
  });

  it('hides another user’s task behind 404 for read, events and cancel, and in lists', async () => {
    const res = await submit({ type: 'demo.echo' });
    const task = (await res.json()) as TaskView;
    for (const [method, path] of [
      ['GET', `/v1/tasks/${task.id}`],
      ['GET', `/v1/tasks/${task.id}/events`],
      ['POST', `/v1/tasks/${task.id}/cancel`],
    ] as const) {
      await problem(await stack.request(method, path, { token: otherDev.token }), 404);
    }
    const list = (await (await stack.request('GET', '/v1/tasks', { token: otherDev.token })).json()) as {
      items: TaskView[];
    };
    expect(list.items.map((t) => t.id)).not.toContain(task.id);
    // ops sees it
    const ops = await stack.user('ops');
    expect((await stack.request('GET', `/v1/tasks/${task.id}`, { token: ops.token })).status).toBe(200);
  });

  it('answers 404 problem+json for an unknown route, with the caller’s request id', async () => {
    const res = await stack.request('GET', '/v1/nothing-here', { headers: { 'X-Request-Id': 'abc-123' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    expect((await problem(res, 404)).requestId).toBe('abc-123');
  });
});

describe('request bodies', () => {
  it('415 without a JSON content type', async () => {
    await problem(
      await stack.request('POST', '/v1/tasks', {
        token: dev.token,
        rawBody: '{"type":"demo.echo"}',
        headers: { 'Content-Type': 'text/plain' },
      }),
      415,
    );
  });

  it('400 for malformed JSON, invalid UTF-8 and an empty body', async () => {
    const headers = { 'Content-Type': 'application/json' };
    const bad = await problem(
      await stack.request('POST', '/v1/tasks', { token: dev.token, rawBody: '{"type": ', headers }),
      400,
    );
    expect(bad.detail).toContain('not valid JSON');
    const utf8 = await problem(
      await stack.request('POST', '/v1/tasks', {
        token: dev.token,
        rawBody: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
        headers,
      }),
      400,
    );
    expect(utf8.detail).toContain('UTF-8');
    await problem(await stack.request('POST', '/v1/tasks', { token: dev.token, rawBody: '', headers }), 400);
  });

  it('413 for a body over MAX_BODY_BYTES', async () => {
    const huge = { type: 'demo.echo', payload: { s: 'x'.repeat(70_000) } };
    await problem(await submit(huge), 413);
  });

  it('never 500 for JSON nested thousands deep', async () => {
    const deep = `{"type":"demo.echo","payload":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    const res = await stack.request('POST', '/v1/tasks', {
      token: dev.token,
      rawBody: deep,
      headers: { 'Content-Type': 'application/json' },
    });
    expect([400, 422]).toContain(res.status);
    const p = (await res.json()) as Problem;
    expect(JSON.stringify(p)).toMatch(/nested/);
  });
});

describe('task validation', () => {
  it('422 for an unknown type, naming the known ones', async () => {
    const p = await problem(await submit({ type: 'nope' }), 422);
    expect(p.errors?.[0]?.path).toBe('type');
    expect(p.errors?.[0]?.message).toContain('demo.echo');
  });

  it('422 with the path of a payload mistake', async () => {
    const p = await problem(await submit({ type: 'demo.sleep', payload: { ms: 'soon' } }), 422);
    expect(p.errors?.map((e) => e.path)).toEqual(['payload.ms']);
  });

  it('refuses fields a client must not set', async () => {
    const p = await problem(
      await submit({ type: 'demo.echo', status: 'succeeded', attempts: 0, createdBy: 'someone-else' }),
      422,
    );
    expect(p.errors?.[0]?.message).toMatch(/status.*attempts.*createdBy/);
  });

  it('refuses a role in a submission (a client cannot pick its privileges), storing nothing', async () => {
    const count = async () =>
      (await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`))[0]!.n;
    const before = await count();
    for (const role of ['admin', 'ops', 'dev']) {
      const p = await problem(await submit({ type: 'demo.echo', role }), 422);
      expect(p.errors).toEqual([{ path: '(body)', message: 'unknown field(s): role' }]);
    }
    const batch = await problem(
      await stack.request('POST', '/v1/tasks/batch', {
        token: dev.token,
        body: { tasks: [{ type: 'demo.echo', role: 'admin' }] },
      }),
      422,
    );
    expect(batch.errors?.[0]?.message).toContain('role');
    expect(await count()).toBe(before);
  });

  it('refuses delayMs with runAt, a runAt too far ahead, and out-of-range limits', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const far = new Date(Date.now() + 400 * 86_400_000).toISOString();
    expect(
      (await problem(await submit({ type: 'demo.echo', delayMs: 10, runAt: soon }), 422)).errors?.[0]?.path,
    ).toBe('delayMs');
    expect((await problem(await submit({ type: 'demo.echo', runAt: far }), 422)).errors?.[0]?.path).toBe(
      'runAt',
    );
    for (const bad of [{ maxAttempts: 0 }, { maxAttempts: 1000 }, { timeoutMs: 0 }, { timeoutMs: 1e12 }]) {
      await problem(await submit({ type: 'demo.echo', ...bad }), 422);
    }
    await problem(await submit({ type: 'demo.echo', queue: 'no spaces/allowed' }), 422);
    await problem(await submit({ type: 'demo.echo', priority: 'urgent' }), 422);
    await problem(await submit({ type: 'demo.echo', callbackUrl: 'ftp://example.com/x' }), 422);
  });

  it('refuses delayMs: 0 with a runAt as well: the two are exclusive whatever their values', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const p = await problem(await submit({ type: 'demo.echo', delayMs: 0, runAt: soon }), 422);
    expect(p.errors).toEqual([{ path: 'delayMs', message: expect.stringContaining('exclusive') as string }]);
    // A null runAt means "not set": API.md's example submission sends both defaults.
    const defaults = await submit({ type: 'demo.echo', delayMs: 0, runAt: null });
    expect(defaults.status).toBe(202);
    expect(((await defaults.json()) as TaskView).status).toBe('queued');
    const delayed = await submit({ type: 'demo.echo', delayMs: 60_000, runAt: null });
    expect(delayed.status).toBe(202);
    expect(((await delayed.json()) as TaskView).status).toBe('scheduled');
    const at = await submit({ type: 'demo.echo', runAt: soon });
    expect(at.status).toBe(202);
    expect(((await at.json()) as TaskView).status).toBe('scheduled');
  });

  it('refuses obviously private destinations for http tasks and callbacks at submission', async () => {
    const http = await problem(
      await submit({ type: 'http', payload: { url: 'http://169.254.169.254/latest/meta-data/' } }),
      422,
    );
    expect(http.errors?.map((e) => e.path)).toEqual(['payload.url']);
    const callback = await problem(
      await submit({ type: 'demo.echo', callbackUrl: 'http://127.0.0.1:8080/hook' }),
      422,
    );
    expect(callback.errors?.map((e) => e.path)).toEqual(['callbackUrl']);
    const injected = await problem(
      await submit({
        type: 'http',
        payload: { url: 'https://example.com/', headers: { 'X-A': 'a\r\nHost: evil' } },
      }),
      422,
    );
    expect(injected.errors?.map((e) => e.path)).toEqual(['payload.headers.X-A']);
  });

  it('422 for NUL characters, which PostgreSQL cannot store', async () => {
    const p = await problem(await submit({ type: 'demo.echo', payload: { note: 'a\u0000b' } }), 422);
    expect(p.errors?.[0]?.path).toBe('payload.note');
  });

  it('stores a __proto__ key as plain data without touching any prototype', async () => {
    const res = await stack.request('POST', '/v1/tasks', {
      token: dev.token,
      rawBody: '{"type":"demo.echo","payload":{"__proto__":{"polluted":true},"ok":1}}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(202);
    const task = (await res.json()) as TaskView;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const [row] = await stack.database.rows<{ payload: unknown }>(
      sql`SELECT payload::text AS payload FROM tasks WHERE id = ${task.id}::uuid`,
    );
    expect(JSON.parse(String(row!.payload))).toEqual(JSON.parse('{"__proto__":{"polluted":true},"ok":1}'));
  });
});

describe('idempotency keys', () => {
  it('replays the original task for the same key and body, refuses another body', async () => {
    const headers = { 'Idempotency-Key': 'order-1' };
    const first = await submit({ type: 'demo.echo', payload: { a: 1, b: 2 } }, dev.token, headers);
    expect(first.status).toBe(202);
    const original = (await first.json()) as TaskView;
    // Same document, keys in another order: still the same request.
    const again = await submit({ payload: { b: 2, a: 1 }, type: 'demo.echo' }, dev.token, headers);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as TaskView).id).toBe(original.id);
    const other = await submit({ type: 'demo.echo', payload: { a: 2 } }, dev.token, headers);
    expect((await problem(other, 422)).errors?.[0]?.path).toBe('Idempotency-Key');
    // Keys are per user: another user may use the same key.
    expect((await submit({ type: 'demo.echo' }, otherDev.token, headers)).status).toBe(202);
  });

  it('refuses a malformed key', async () => {
    await problem(await submit({ type: 'demo.echo' }, dev.token, { 'Idempotency-Key': 'a b' }), 422);
  });
});

describe('batches', () => {
  it('accepts 1..1000 tasks all or nothing, naming each bad index', async () => {
    const before = await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`);
    const p = await problem(
      await stack.request('POST', '/v1/tasks/batch', {
        token: dev.token,
        body: { tasks: [{ type: 'demo.echo' }, { type: 'nope' }, { type: 'demo.sleep', payload: {} }] },
      }),
      422,
    );
    expect(p.errors?.map((e) => e.path)).toEqual(['tasks[1].type', 'tasks[2].payload.ms']);
    const after = await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`);
    expect(after[0]!.n).toBe(before[0]!.n);

    await problem(
      await stack.request('POST', '/v1/tasks/batch', { token: dev.token, body: { tasks: [] } }),
      422,
    );
    const tooMany = Array.from({ length: 1001 }, () => ({ type: 'demo.echo' }));
    await problem(
      await stack.request('POST', '/v1/tasks/batch', { token: dev.token, body: { tasks: tooMany } }),
      422,
    );
    await problem(
      await stack.request('POST', '/v1/tasks/batch', { token: dev.token, body: [{ type: 'x' }] }),
      422,
    );

    const ok = await stack.request('POST', '/v1/tasks/batch', {
      token: dev.token,
      body: {
        tasks: [
          { type: 'demo.echo', payload: { i: 0 } },
          { type: 'demo.echo', payload: { i: 1 } },
        ],
      },
    });
    expect(ok.status).toBe(202);
    const { tasks } = (await ok.json()) as { tasks: TaskView[] };
    expect(tasks.map((t) => t.payload)).toEqual([{ i: 0 }, { i: 1 }]);
  });
});

describe('listing', () => {
  it('pages newest first with an opaque cursor, scoped to the caller', async () => {
    const lister = await stack.user('dev', 'lister');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await submit({ type: 'demo.echo', payload: { i } }, lister.token);
      ids.push(((await res.json()) as TaskView).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const body = (await (
        await stack.request('GET', `/v1/tasks?limit=2${q}`, { token: lister.token })
      ).json()) as {
        items: TaskView[];
        nextCursor: string | null;
      };
      seen.push(...body.items.map((t) => t.id));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    const filtered = (await (
      await stack.request('GET', '/v1/tasks?status=queued&type=demo.echo', { token: lister.token })
    ).json()) as { items: TaskView[] };
    expect(filtered.items).toHaveLength(5);
    await problem(await stack.request('GET', '/v1/tasks?limit=501', { token: lister.token }), 422);
    await problem(await stack.request('GET', '/v1/tasks?status=done', { token: lister.token }), 422);
    await problem(await stack.request('GET', '/v1/tasks?cursor=zzz', { token: lister.token }), 400);
  });
});

describe('system routes', () => {
  it('publishes an OpenAPI 3.1 document of every /v1 route and a browsable page', async () => {
    const doc = (await (await stack.request('GET', '/openapi.json', { token: null })).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: { Submission: { properties: Record<string, unknown> } } };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/tasks', '/v1/tasks/{id}/cancel', '/v1/dlq/{id}']),
    );
    expect(Object.keys(doc.components.schemas.Submission.properties)).toEqual(
      expect.arrayContaining(['type', 'payload', 'priority', 'runAt', 'callbackUrl']),
    );
    const page = await stack.request('GET', '/docs', { token: null });
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/docs/assets/swagger-ui-bundle.js');
  });

  it('answers health, readiness, info and me', async () => {
    expect(await (await stack.request('GET', '/healthz', { token: null })).json()).toEqual({ status: 'ok' });
    expect(await (await stack.request('GET', '/readyz', { token: null })).json()).toEqual({
      status: 'ready',
      checks: { db: 'ok', queue: 'ok' },
    });
    const info = (await (await stack.request('GET', '/v1/system/info', { token: dev.token })).json()) as {
      queueBackend: string;
      taskTypes: { type: string }[];
    };
    expect(info.queueBackend).toBe('memory');
    expect(info.taskTypes.map((t) => t.type)).toEqual(
      expect.arrayContaining(['demo.echo', 'demo.sleep', 'demo.fail']),
    );
  });
});
