import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTaskType } from '../../lib/catalog/task-type';
import type { TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack } from '../helpers/stack';

// PostgreSQL's jsonb refuses an unpaired UTF-16 surrogate (and text refuses NUL). An outcome
// write that fails on such a value used to fail for ever: the message was never acknowledged,
// and the attempt — its side effects included — ran again up to maxAttempts times. Values are
// now made storable before any jsonb write, and a value the database still refuses fails the
// task permanently, never the write.

let upstream: Server;
let base: string;
const hits = new Map<string, number>();
beforeAll(async () => {
  upstream = createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path.startsWith('/emoji-cut')) {
      // 499 characters, then an emoji whose two UTF-16 halves straddle the 500th.
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${'x'.repeat(499)}😀 tail`);
    } else if (path.startsWith('/lone')) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"a":"\\ud800","b":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => upstream.close(resolve));
});

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** A result this test's database refuses (a trigger stands in for what a database may refuse). */
const refused = defineTaskType({
  type: 'test.refused',
  description: 'test: returns a result the database refuses',
  payload: z.strictObject({}),
  execute: () => Promise.resolve({ 'refuse-me': true }),
});

/** Makes the test database refuse a result holding `refuse-me`, as PostgreSQL does bad input. */
async function refuseMarkedResults(s: Stack): Promise<void> {
  await s.database.rows(sql`
    CREATE FUNCTION test_refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.result ? 'refuse-me' THEN
        RAISE EXCEPTION 'invalid input syntax for type json' USING ERRCODE = '22P02';
      END IF;
      RETURN NEW;
    END $$`);
  await s.database.rows(sql`
    CREATE TRIGGER test_refuse_marked BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION test_refuse_marked()`);
}

const isWellFormed = (s: string) => !/\p{Cs}/u.test(s);

describe.each(STACK_VARIANTS)('values jsonb refuses ($name)', ({ name, opts }) => {
  const submit = async (body: unknown) => {
    const res = await stack!.request('POST', '/v1/tasks', { body });
    expect(res.status).toBe(202);
    return (await res.json()) as TaskView;
  };
  const path = (p: string) => `${p}-${name.startsWith('memory') ? 'm' : 'r'}`;

  it('an error text cut through an emoji is stored whole-character, and the attempt runs once', async () => {
    stack = await startStack({ ...opts, config: { OUTBOUND_ALLOW_PRIVATE: 'true', CLAIM_IDLE_MS: '1000' } });
    const p = path('/emoji-cut');
    const task = await submit({
      type: 'http',
      payload: { url: `${base}${p}`, method: 'GET' },
      maxAttempts: 2,
    });
    const dead = await stack.waitForStatus(task.id, ['dead'], 15_000);
    expect(dead.lastError?.code).toBe('http_500');
    expect(isWellFormed(dead.lastError!.message)).toBe(true);
    expect(dead.lastError!.message).toMatch(/x{400,}$/);
    expect(dead.attempts).toBe(2);
    expect(hits.get(p)).toBe(2); // one request per attempt: no write failed and re-ran one
  });

  it('a 2xx JSON answer holding a lone surrogate succeeds, the surrogate stored as U+FFFD', async () => {
    stack = await startStack({ ...opts, config: { OUTBOUND_ALLOW_PRIVATE: 'true', CLAIM_IDLE_MS: '1000' } });
    const p = path('/lone');
    const task = await submit({
      type: 'http',
      payload: { url: `${base}${p}`, method: 'GET' },
      maxAttempts: 3,
    });
    const done = await stack.waitForStatus(task.id, ['succeeded', 'dead'], 15_000);
    expect(done.status).toBe('succeeded');
    expect((done.result as { body: unknown }).body).toEqual({ a: '\ufffd', b: 'ok' });
    expect(hits.get(p)).toBe(1);
  });

  it('a result the database refuses anyway fails the task for good, after one run', async () => {
    stack = await startStack({ ...opts, types: [refused], config: { CLAIM_IDLE_MS: '1000' } });
    await refuseMarkedResults(stack);
    const task = await submit({ type: 'test.refused', maxAttempts: 3 });
    const dead = await stack.waitForStatus(task.id, ['dead', 'succeeded'], 15_000);
    expect(dead.status).toBe('dead');
    expect(dead.lastError).toMatchObject({ code: 'result_refused', retryable: false });
    expect(dead.attempts).toBe(1);
  });

  it('a submission whose payload holds a lone surrogate gets 422 naming where', async () => {
    stack = await startStack({ ...opts, worker: false });
    const res = await stack.request('POST', '/v1/tasks', {
      rawBody: '{"type":"demo.echo","payload":{"note":"half an emoji: \\ud83d","\\udc00key":1}}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(422);
    const problem = (await res.json()) as { errors: { path: string; message: string }[] };
    expect(problem.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['payload.note', 'payload']));
    expect(problem.errors.map((e) => e.message).join(' ')).toMatch(/surrogate/);
  });
});
