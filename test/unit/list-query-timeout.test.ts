import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';
import { isQueryCanceled } from '../../lib/db/query-canceled';
import { QueryTimeoutError } from '../../lib/errors';
import { openTestPglite } from '../helpers/databases';

// The pieces of the list-read time limit that need no PostgreSQL server; the limit itself
// firing is test/integration/list-query-timeout.test.ts.

describe('LIST_QUERY_TIMEOUT_MS', () => {
  it('defaults to 5000 ms and takes 1 to 30000', () => {
    expect(loadConfig({}).LIST_QUERY_TIMEOUT_MS).toBe(5000);
    expect(loadConfig({ LIST_QUERY_TIMEOUT_MS: '250' }).LIST_QUERY_TIMEOUT_MS).toBe(250);
    for (const bad of ['0', '30001', '1.5', 'soon']) {
      expect(() => loadConfig({ LIST_QUERY_TIMEOUT_MS: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ LIST_QUERY_TIMEOUT_MS: bad }), bad).toThrow(
        'LIST_QUERY_TIMEOUT_MS must be an integer between 1 and 30000',
      );
    }
  });
});

describe('a cancelled query', () => {
  it('is recognised by SQLSTATE 57014, also wrapped in a cause (as drizzle wraps it)', () => {
    const pgError = Object.assign(new Error('canceling statement due to statement timeout'), {
      code: '57014',
    });
    expect(isQueryCanceled(pgError)).toBe(true);
    expect(isQueryCanceled(new Error('Failed query', { cause: pgError }))).toBe(true);
    expect(isQueryCanceled(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(
      false,
    );
    expect(isQueryCanceled(new Error('no code'))).toBe(false);
    expect(isQueryCanceled(null)).toBe(false);
  });

  it('becomes a 503 query-timeout problem whose Retry-After is at least the limit', () => {
    const e = new QueryTimeoutError(5000);
    expect(e.toJSON()).toMatchObject({
      type: 'urn:procurator:problem:query-timeout',
      title: 'Query Timeout',
      status: 503,
    });
    expect(e.detail).toContain('5000 ms');
    expect(e.extra.headers).toEqual({ 'Retry-After': '5' });
    expect(new QueryTimeoutError(1).extra.headers).toEqual({ 'Retry-After': '1' });
    expect(new QueryTimeoutError(2500).extra.headers).toEqual({ 'Retry-After': '3' });
  });
});

describe('the embedded database (PGlite)', () => {
  it('does not enforce statement_timeout, so a limited read there is an ordinary one', async () => {
    const database = await openTestPglite();
    try {
      // If this starts failing, PGlite enforces it now: README ("Fast log queries") says it does not.
      await database.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT set_config('statement_timeout', '10', true)`);
        await tx.execute(sql`SELECT pg_sleep(0.1)`);
      });
      const rows = await database.rowsWithin<{ n: number }>(sql`SELECT 1 AS n, pg_sleep(0.05)::text`, 1);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await database.close();
    }
  });
});
