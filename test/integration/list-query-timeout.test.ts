import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { RARE_KIND, fillLogTables } from '../helpers/log-tables';

// The server-side limit of list and log reads, on PostgreSQL: a keyword search over a table
// that takes far longer than the limit is cancelled by the server, answered with a
// query-timeout problem, and leaves nothing running and no connection held.

const TIMEOUT_MS = 50;
const SEARCH = `/v1/logs?q=${encodeURIComponent('no such keyword anywhere')}`;

let stack: Stack;

/** Statements of a keyword search still running in this test's database. */
async function runningSearches(): Promise<number> {
  const rows = await stack.database.rows<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
      AND query LIKE ${'%e.data::text ILIKE%'}`);
  return rows[0]!.n;
}

beforeAll(async () => {
  stack = await startStack({
    queue: 'memory',
    db: 'postgres',
    worker: false,
    config: { LIST_QUERY_TIMEOUT_MS: String(TIMEOUT_MS) },
  });
  // 250,000 events with 512 characters of data each: a search for a word none has reads them all.
  await fillLogTables(stack.database, { tasks: 50_000, eventsPerTask: 5, audit: 20_000, noteChars: 512 });
});
afterAll(async () => {
  await stack?.stop();
});

describe('LIST_QUERY_TIMEOUT_MS on PostgreSQL', () => {
  it('has PostgreSQL cancel a keyword search that runs longer, answered 503 query-timeout', async () => {
    // The premise: without the limit this search takes several times the limit (on a quiet
    // machine about 8×; more on a busy one).
    const started = Date.now();
    await stack.database.rows(sql`SELECT count(*) FROM task_events e WHERE e.data::text ILIKE '%no such%'`);
    const uncutMs = Date.now() - started;
    expect(uncutMs).toBeGreaterThan(4 * TIMEOUT_MS);

    const asked = Date.now();
    const res = await stack.request('GET', SEARCH);
    const tookMs = Date.now() - asked;
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'urn:procurator:problem:query-timeout',
      title: 'Query Timeout',
      status: 503,
      requestId: res.headers.get('x-request-id'),
    });
    expect(body.detail).toMatch(/since and until, kind and taskId/);
    // Answered well before the search could have run to its end.
    expect(tookMs).toBeLessThan(Math.max(uncutMs, 10 * TIMEOUT_MS));

    // The server stopped it: no statement of the search is left running, within moments.
    let running = await runningSearches();
    for (let i = 0; running > 0 && i < 10; i++) {
      await sleep(10);
      running = await runningSearches();
    }
    expect(running).toBe(0);
  });

  it('gives every connection back: more cancelled searches than the pool holds, then reads as usual', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => stack.request('GET', SEARCH)));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 503));
    expect(await runningSearches()).toBe(0);
    const res = await stack.request('GET', `/v1/logs?kind=${RARE_KIND}&limit=5`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(5);
    // Nothing of the limit stays on a pooled connection (it ended with its transaction): 20
    // reads at once, each holding its connection a moment, see every connection of the pool.
    const settings = await Promise.all(
      Array.from({ length: 20 }, () =>
        stack.database.rows<{ t: string }>(
          sql`SELECT current_setting('statement_timeout') AS t, pg_sleep(0.05)::text`,
        ),
      ),
    );
    expect(new Set(settings.map((r) => r[0]!.t))).toEqual(new Set(['0']));
  });

  it('limits GET /v1/tasks and GET /v1/dlq too, with the configured time', async () => {
    const spy = vi.spyOn(stack.database, 'rowsWithin');
    try {
      for (const path of ['/v1/tasks?type=demo.echo', '/v1/dlq', '/v1/logs?limit=1']) {
        spy.mockClear();
        expect((await stack.request('GET', path)).status, path).toBe(200);
        expect(spy, path).toHaveBeenCalledTimes(1);
        expect(spy.mock.calls[0]![1], path).toBe(TIMEOUT_MS);
      }
    } finally {
      spy.mockRestore();
    }
  });
});
