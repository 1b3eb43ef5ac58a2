import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { Lease } from '../../lib/leadership/lease';
import { openTestPglite } from '../helpers/databases';

let database: Database;
beforeEach(async () => {
  database = await openTestPglite();
});
afterEach(async () => {
  await database.close();
});

const lease = (holder: string, ttlMs = 60_000, name = 'job') => new Lease(database, { name, holder, ttlMs });

it('is held by one holder at a time, renewed by it, and taken over once expired or released', async () => {
  const a = lease('a', 300);
  const b = lease('b');
  expect(await Promise.all([a.acquire(), b.acquire()])).toEqual([true, false]);
  expect(await a.acquire()).toBe(true); // renewal
  expect(await b.acquire()).toBe(false);
  await sleep(400); // a did not renew within its 300 ms
  expect(await b.acquire()).toBe(true);
  expect(await a.acquire()).toBe(false);
  await a.release(); // not a's to release: nothing changes
  expect(await lease('c').acquire()).toBe(false);
  await b.release();
  expect(await lease('c').acquire()).toBe(true);
  // Leases of different jobs are independent.
  expect(await lease('a', 60_000, 'other').acquire()).toBe(true);
  const rows = await database.rows<{ name: string; holder: string }>(
    sql`SELECT name, holder FROM leases ORDER BY name`,
  );
  expect(rows).toEqual([
    { name: 'job', holder: 'c' },
    { name: 'other', holder: 'a' },
  ]);
});
