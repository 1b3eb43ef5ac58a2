import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_POLL_MS, ProcuratorClient, ProcuratorError, ProcuratorTimeoutError } from '../../client';
import type { Task } from '../../client';
import type { Stack } from '../helpers/stack';
import { startStack, taskCount } from '../helpers/stack';

// The typed client (`procurator/client`) against the API on Redis and PostgreSQL, through the
// app's own fetch.

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let stack: Stack;
let token: string;
const requests: { method: string; path: string; at: number; key: string | null }[] = [];

/** The app as a fetch, recording what the client sends; `answer` can replace an answer. */
let answer: ((req: Request, res: Response) => Response | Promise<Response>) | undefined;
const viaApp = async (input: string, init: RequestInit): Promise<Response> => {
  const req = new Request(input, init);
  const url = new URL(req.url);
  requests.push({
    method: req.method,
    path: url.pathname,
    at: performance.now(),
    key: req.headers.get('idempotency-key'),
  });
  const res = await stack.app.request(req);
  return answer ? answer(req, res) : res;
};
const client = (opts: Partial<ConstructorParameters<typeof ProcuratorClient>[0]> = {}) =>
  new ProcuratorClient({ baseUrl: 'http://procurator.test/', token, fetch: viaApp, ...opts });

beforeAll(async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres' });
  token = (await stack.user('ops', 'client-ops')).token;
});
afterAll(async () => {
  await stack.stop();
});

describe('ProcuratorClient', () => {
  it('submits, waits for the end, reads events, and lists every page', async () => {
    const c = client();
    const task = await c.submit({ type: 'demo.echo', payload: { hello: 'client' } });
    expect(task.status).toMatch(/queued|scheduled/);
    const done = await c.waitFor(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ id: task.id, status: 'succeeded', result: { hello: 'client' } });
    expect((await c.events(task.id)).map((e) => e.kind)).toEqual(['submitted', 'started', 'succeeded']);
    expect((await c.get(task.id)).id).toBe(task.id);
    expect(task.traceId).toMatch(/^[0-9a-f]{32}$/);
    const traced = await c.submit({ type: 'demo.echo' }, { traceparent: TRACEPARENT });
    expect(traced.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');

    const batch = await c.submitBatch(
      Array.from({ length: 5 }, (_, i) => ({ type: 'demo.echo', queue: 'paged', payload: { i } })),
      { traceparent: TRACEPARENT },
    );
    expect(batch).toHaveLength(5);
    expect(new Set(batch.map((t) => t.traceId))).toEqual(new Set(['4bf92f3577b34da6a3ce929d0e0e4736']));
    const first = await c.list({ queue: 'paged', limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).toBeTruthy();
    const all: Task[] = [];
    for await (const t of c.list({ queue: 'paged', limit: 2 })) all.push(t);
    expect(all.map((t) => t.id).sort()).toEqual(batch.map((t) => t.id).sort());
  });

  it('waitFor asks no more often than every 100 ms, and rejects once timeoutMs has passed', async () => {
    const c = client();
    const slow = await c.submit({ type: 'demo.sleep', payload: { ms: 700 } });
    requests.length = 0;
    await c.waitFor(slow.id, { timeoutMs: 10_000 });
    const looks = requests.filter((r) => r.path === `/v1/tasks/${slow.id}`).map((r) => r.at);
    for (let i = 1; i < looks.length; i++)
      expect(looks[i]! - looks[i - 1]!).toBeGreaterThanOrEqual(MIN_POLL_MS - 5);
    expect(looks.length).toBeLessThanOrEqual(9);

    const long = await c.submit({ type: 'demo.sleep', payload: { ms: 5000 } });
    const started = performance.now();
    const err = await c.waitFor(long.id, { timeoutMs: 350 }).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(ProcuratorTimeoutError);
    expect(took).toBeGreaterThanOrEqual(340);
    expect(took).toBeLessThan(1500);
    await c.cancel(long.id);
  });

  it('tries a submission whose answer was lost again with the same Idempotency-Key: one task', async () => {
    const before = await taskCount(stack);
    let dropped = 0;
    answer = (req, res) => {
      if (req.method === 'POST' && dropped === 0 && res.status === 202) {
        dropped++;
        // The task is stored; the client hears a 503 instead (a proxy in between failed).
        return new Response(
          JSON.stringify({ type: 'x', title: 'Service Unavailable', status: 503, detail: 'lost' }),
          {
            status: 503,
            headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '0' },
          },
        );
      }
      return res;
    };
    requests.length = 0;
    try {
      const task = await client().submit({ type: 'demo.echo', payload: { once: true } });
      const posts = requests.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(2);
      expect(posts[0]!.key).toBeTruthy();
      expect(posts[1]!.key).toBe(posts[0]!.key);
      expect(await taskCount(stack)).toBe(before + 1);
      expect((await client().get(task.id)).payload).toEqual({ once: true });
    } finally {
      answer = undefined;
    }
  });

  it('waits out a 429 after its Retry-After, and gives up when told to wait too long', async () => {
    const limited = await stack.services.userAdmin.create(
      (await stack.services.auth.authenticate(stack.adminToken))!,
      { name: 'client-limited', role: 'dev', rateLimitRps: 1 },
      'test',
    );
    const c = client({ token: limited.token });
    // A burst of 2 passes at once; the third waits about a second for its token.
    await c.submit({ type: 'demo.echo' });
    await c.submit({ type: 'demo.echo' });
    const started = performance.now();
    await c.submit({ type: 'demo.echo' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    const impatient = client({ token: limited.token, maxRetryAfterMs: 0 });
    await impatient.submit({ type: 'demo.echo' }).catch(() => undefined);
    const err = await impatient.submit({ type: 'demo.echo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcuratorError);
    expect((err as ProcuratorError).status).toBe(429);
  });

  it('throws ProcuratorError with the status and the problem of a refusal', async () => {
    const err = await client()
      .get('01900000-0000-7000-8000-000000000000')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcuratorError);
    expect(err).toMatchObject({
      name: 'ProcuratorError',
      status: 404,
      problem: { status: 404, title: 'Not Found' },
    });
    const bad = (await client()
      .submit({ type: 'no.such.type' })
      .catch((e: unknown) => e)) as ProcuratorError;
    expect(bad.status).toBe(422);
    expect(bad.problem.errors?.[0]?.path).toBe('type');
  });

  it('lists, replays and deletes dead tasks', async () => {
    const c = client();
    const doomed = await c.submit({ type: 'demo.fail', queue: 'client-dlq', payload: { retryable: false } });
    await c.waitFor(doomed.id, { timeoutMs: 10_000 });
    const dead: Task[] = [];
    for await (const t of c.dlq.list({ queue: 'client-dlq' })) dead.push(t);
    expect(dead.map((t) => t.id)).toEqual([doomed.id]);
    expect(await c.dlq.replay(doomed.id)).toBe(1);
    expect((await c.waitFor(doomed.id, { timeoutMs: 10_000 })).status).toBe('dead');
    expect(await c.dlq.replay({ queue: 'client-dlq' })).toBe(1);
    await c.waitFor(doomed.id, { timeoutMs: 10_000 });
    await c.dlq.delete(doomed.id);
    expect((await c.get(doomed.id)).status).toBe('discarded');
    const [row] = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM audit_log WHERE action LIKE 'dlq.%' AND target = ${doomed.id}`,
    );
    expect(row!.n).toBeGreaterThanOrEqual(2);
  });
});
