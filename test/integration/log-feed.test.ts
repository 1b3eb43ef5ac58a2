import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import { silentLogger } from '../../lib/logger';
import { LogFeed } from '../../lib/logs/log-feed';
import type { LogTail } from '../../lib/logs/log-tail';
import type { TestPostgres } from '../helpers/databases';
import { createTestPostgres } from '../helpers/databases';

// The live feed on real PostgreSQL (README "Live tail"), against what can go wrong between
// writers and the one LISTEN: it reads only when told (a row nobody notifies about waits),
// never ahead of a transaction still running (so a resumed reader can never miss a row), reads
// once more after each notification for the writers that did not notify, and catches up after
// losing its connection.

let pgdb: TestPostgres;
let database: Database;
const feeds: LogFeed[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  pgdb = await createTestPostgres();
  database = pgdb.open(5);
});
afterEach(async () => {
  await Promise.all(feeds.splice(0).map((f) => f.close()));
  await quiet(false);
});
afterAll(async () => {
  await pgdb.drop();
});

function feed(options: ConstructorParameters<typeof LogFeed>[1] = {}): LogFeed {
  const f = new LogFeed({ database, logger: silentLogger() }, options);
  feeds.push(f);
  return f;
}

/** While on, no statement notifies: every tick looks claimed (the trigger's register is a sequence). */
async function quiet(on: boolean): Promise<void> {
  await database.rows(sql`SELECT setval('procurator_log_tick', ${on ? 9e15 : 0}::bigint)`);
}

/** An audit entry, on `client` (a transaction of the test's) or autocommitted. */
async function audit(action: string, client?: pg.Client): Promise<string> {
  const id = newId();
  const text = `INSERT INTO audit_log (id, actor_id, action) VALUES ($1, 'test', $2)`;
  if (client) await client.query(text, [id, action]);
  else
    await database.rows(
      sql`INSERT INTO audit_log (id, actor_id, action) VALUES (${id}::uuid, 'test', ${action})`,
    );
  return id;
}

/** The actions a tail hands out within `ms`. */
async function actions(tail: LogTail, ms: number): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const batch = await tail.take(Math.max(1, deadline - Date.now()));
    if (batch === null) break;
    for (const e of batch) if (e.item.source === 'audit') out.push(e.item.action);
  }
  return out;
}

/** Waits for `n` actions, up to `ms`. */
async function next(tail: LogTail, n: number, ms = 3000): Promise<string[]> {
  const out: string[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n && Date.now() < deadline) {
    const batch = await tail.take(Math.max(1, deadline - Date.now()));
    if (batch === null) break;
    for (const e of batch) if (e.item.source === 'audit') out.push(e.item.action);
  }
  return out;
}

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: pgdb.url });
  await c.connect();
  return c;
}

describe('the live feed on PostgreSQL', () => {
  it('reads when notified, not by looking at the tables from time to time', async () => {
    // One follow-up read after each notification (the default makes three, up to 5 s later).
    const tail = await feed({ followUpsMs: [100] }).open({}, { userId: 'u' });
    await sleep(300); // past the read a feed makes 100 ms after it starts
    await quiet(true);
    await audit('unannounced');
    expect(await actions(tail, 1500)).toEqual([]);
    await database.rows(sql`NOTIFY procurator_logs`);
    expect(await next(tail, 1)).toEqual(['unannounced']);
  });

  it('never reads past a transaction still running, so none of its rows comes after a later one', async () => {
    const tail = await feed().open({}, { userId: 'u' });
    const slow = await client();
    try {
      await slow.query('BEGIN');
      await quiet(true);
      await audit('older', slow); // its transaction id is the smaller one
      await quiet(false);
      await audit('newer'); // committed and notified, but behind the open transaction
      expect(await actions(tail, 400)).toEqual([]);
      await slow.query('COMMIT'); // no notification: the feed reads again while rows wait
      expect(await next(tail, 2, 3000)).toEqual(['older', 'newer']);
    } finally {
      await slow.end();
    }
  });

  it('reads once more after a notification, for a statement whose tick was already claimed', async () => {
    const soon = await feed({ followUpsMs: [300] }).open({}, { userId: 'u' });
    const never = await feed({ followUpsMs: [60_000] }).open({}, { userId: 'u' });
    const late = await client();
    try {
      await late.query('BEGIN');
      await audit('notified');
      await quiet(true);
      await audit('unnotified', late); // after 'notified': a later transaction, and silent
      // Both feeds have read 'notified' before the silent one commits.
      expect(await next(never, 1)).toEqual(['notified']);
      await late.query('COMMIT');
      expect(await next(soon, 2)).toEqual(['notified', 'unnotified']);
      // Without the follow-up read it waits for the next notification.
      expect(await actions(never, 1000)).toEqual([]);
      await database.rows(sql`NOTIFY procurator_logs`);
      expect(await next(never, 1)).toEqual(['unnotified']);
    } finally {
      await late.end();
    }
  });

  it('reads a little after it starts, for a tick whose notification went out before its LISTEN', async () => {
    // The next 200 ms of ticks are taken, as by a statement that notified before the feed listened.
    await database.rows(
      sql`SELECT setval('procurator_log_tick', floor(extract(epoch FROM clock_timestamp()) * 40)::bigint + 8)`,
    );
    const tail = await feed({ followUpsMs: [300] }).open({}, { userId: 'u' });
    await audit('silent-after-start');
    expect(await next(tail, 1, 2000)).toEqual(['silent-after-start']);
  });

  it('resumes on a process that lags behind the one the reader left without sending anything twice', async () => {
    const lagging = feed();
    const ahead = feed();
    await lagging.open({}, { userId: 'other' }); // running, with its position before what follows
    const start = await audit('before');
    await quiet(true);
    for (const n of [1, 2, 3]) await audit(`silent-${n}`);
    // The reader got the three from the other process (a catch-up after `before`) ...
    const there = await ahead.open({}, { userId: 'u', lastEventId: start });
    const got = await there.take(1000);
    expect(got?.map((e) => e.item.source === 'audit' && e.item.action)).toEqual([
      'silent-1',
      'silent-2',
      'silent-3',
    ]);
    there.close();
    // ... and comes back to this one, which has not read them yet: it sends them no more.
    const here = await lagging.open({}, { userId: 'u', lastEventId: got![2]!.item.id });
    await database.rows(sql`NOTIFY procurator_logs`);
    await quiet(false);
    await audit('after');
    expect(await next(here, 1)).toEqual(['after']);
    expect(await actions(here, 300)).toEqual([]);
  });

  it('holds one LISTEN connection for all its tails, and catches up after losing it', async () => {
    const f = feed({ followUpsMs: [100] });
    const tails = await Promise.all([1, 2, 3].map((n) => f.open({}, { userId: `u${n}` })));
    const listeners = async () =>
      (
        await database.rows<{ pid: number }>(
          sql`SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'procurator-listen'`,
        )
      ).map((r) => r.pid);
    await sleep(300); // past the read a feed makes 100 ms after it starts
    const [pid, ...more] = await listeners();
    expect(more).toEqual([]);
    await database.rows(sql`SELECT pg_terminate_backend(${pid}::int)`);
    await audit('while-away');
    for (const t of tails) expect(await next(t, 1, 5000)).toEqual(['while-away']);
    const again = await listeners();
    expect(again).toHaveLength(1);
    expect(again[0]).not.toBe(pid);
    for (const t of tails) t.close();
    await expect.poll(listeners).toEqual([]);
  });
});
