import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { firstIdAt, newId } from '../../lib/ids';
import { ID_TIME_SLACK_MS } from '../../lib/logs/log-query';
import { LogStore } from '../../lib/logs/log-store';
import { openTestPglite } from '../helpers/databases';

// since/until are answered through id bounds (ids are UUIDv7, time-ordered), widened by
// ID_TIME_SLACK_MS, with `at` deciding: entries whose id was made a little before or after
// their `at` (a retried write, another host's clock) are found exactly by their `at`.

const T = Date.parse('2031-05-06T07:08:09.010Z');
let database: Database;
let store: LogStore;
/** Entry name → `at` and the time in its id, in ms relative to T. */
const entries: Record<string, { at: number; idAt: number }> = {
  'at T, id made then': { at: 0, idAt: 0 },
  'at T, id made 4 min before (a retried write)': { at: 0, idAt: -4 * 60_000 },
  'at T, id made 4 min after (a clock ahead)': { at: 0, idAt: 4 * 60_000 },
  'at T-1ms': { at: -1, idAt: -1 },
  'at T-1ms, id made 4 min after': { at: -1, idAt: 4 * 60_000 },
  'at T+1ms, id made 4 min before': { at: 1, idAt: -4 * 60_000 },
};
const nameOf = new Map<string, string>();

/** A UUIDv7 of time `ms`, unique: firstIdAt's time with newId's random tail. */
function idAt(ms: number): string {
  return firstIdAt(ms).slice(0, 14) + newId().slice(14);
}

beforeAll(async () => {
  database = await openTestPglite();
  store = new LogStore(database, { listTimeoutMs: 5000 });
  for (const [name, e] of Object.entries(entries)) {
    const id = idAt(T + e.idAt);
    nameOf.set(id, name);
    await database.rows(sql`INSERT INTO task_events (id, task_id, at, kind, message)
      VALUES (${id}::uuid, ${newId()}::uuid, ${new Date(T + e.at).toISOString()}::timestamptz, 'noted', ${name})`);
  }
});
afterAll(async () => {
  await database.close();
});

async function names(since?: number, until?: number): Promise<string[]> {
  const page = await store.list({
    since: since === undefined ? undefined : new Date(T + since),
    until: until === undefined ? undefined : new Date(T + until),
    limit: 100,
  });
  return page.items.map((i) => nameOf.get(i.id)!).sort();
}

describe('since and until through id bounds', () => {
  it('firstIdAt sorts below every id of its millisecond and above every earlier one', () => {
    const before = newId();
    const ms = Date.now() + 2;
    while (Date.now() < ms); // the next millisecond
    const bound = firstIdAt(ms);
    const after = newId();
    expect(before < bound && bound <= after).toBe(true);
    expect(firstIdAt(-5)).toBe('00000000-0000-0000-0000-000000000000');
    expect(firstIdAt(0x0123456789ab)).toBe('01234567-89ab-0000-0000-000000000000');
  });

  it('select by `at` exactly, whatever time within the slack the id was made at', async () => {
    expect(ID_TIME_SLACK_MS).toBeGreaterThan(4 * 60_000);
    const atT = Object.keys(entries).filter((n) => entries[n]!.at === 0);
    const atT1 = Object.keys(entries).filter((n) => entries[n]!.at === 1);
    const atTm1 = Object.keys(entries).filter((n) => entries[n]!.at === -1);
    expect(await names(0, 1)).toEqual(atT.sort());
    expect(await names(0)).toEqual([...atT, ...atT1].sort());
    expect(await names(undefined, 0)).toEqual(atTm1.sort());
    expect(await names(-1, 2)).toEqual(Object.keys(entries).sort());
    expect(await names(0, 0)).toEqual([]);
    expect(await names(2)).toEqual([]);
  });
});
