import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import type { FeedRow } from '../../lib/logs/log-match';
import { matchesLog } from '../../lib/logs/log-match';
import type { LogMatch } from '../../lib/logs/log-query';
import { LogStore, toItem } from '../../lib/logs/log-store';
import { feedQuery, positionBefore } from '../../lib/logs/log-tail-query';
import { openTestPglite } from '../helpers/databases';

// The live tail filters each row in JavaScript (matchesLog) with the filters /v1/logs puts to
// the database: both must answer alike, for every filter, on rows chosen to sit on their
// edges (case, the jsonb text form, LIKE's wildcards taken literally, owners, targets).

let database: Database;
const taskA = newId();
const taskB = newId();
let rows: FeedRow[];

beforeAll(async () => {
  database = await openTestPglite();
  for (const [id, owner] of [
    [taskA, 'owner-a'],
    [taskB, 'owner-b'],
  ] as const) {
    await database.rows(sql`INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by)
      VALUES (${id}::uuid, 'demo.echo', 'default', 'normal', 'queued', '{}'::jsonb, 5, 60000, ${owner})`);
  }
  const events: [string, string, string | null, unknown][] = [
    [taskA, 'submitted', null, { status: 'queued' }],
    [taskA, 'failed', 'Found a NEEDLE in 50% of_cases', { code: 'x' }],
    [taskB, 'failed', 'plain text', { k: 1, note: 'needle' }],
    [taskB, 'succeeded', null, { path: 'C:\\dir' }],
    // An event whose task is gone (pruned, or never stored): no owner sees it.
    [newId(), 'recovered', 'orphan', null],
  ];
  for (const [task, kind, message, data] of events) {
    await database.rows(sql`INSERT INTO task_events (id, task_id, kind, message, data)
      VALUES (${newId()}::uuid, ${task}::uuid, ${kind}, ${message}, ${data === null ? null : JSON.stringify(data)}::jsonb)`);
  }
  const audits: [string, string | null, string | null, unknown][] = [
    ['user.create', 'u-1', 'Needle Admin', null],
    ['task.cancel', taskA, 'ops', { reason: '50%' }],
    ['dlq.replay', taskB, null, { k: 1 }],
  ];
  for (const [action, target, actorName, data] of audits) {
    await database.rows(sql`INSERT INTO audit_log (id, actor_id, actor_name, action, target, data)
      VALUES (${newId()}::uuid, 'actor', ${actorName}, ${action}, ${target},
              ${data === null ? null : JSON.stringify(data)}::jsonb)`);
  }
  const fed = await database.rows(feedQuery(positionBefore('0'), 1000));
  rows = fed.map((r) => ({
    item: toItem(r),
    tx: String(r.tx),
    owner: (r.owner as string | null) ?? null,
    dataText: (r.data_text as string | null) ?? null,
  }));
});
afterAll(async () => {
  await database.close();
});

const filters: LogMatch[] = [
  {},
  { ownerId: 'owner-a' },
  { ownerId: 'owner-b' },
  { ownerId: 'nobody' },
  { taskId: taskA },
  { taskId: taskA, ownerId: 'owner-b' },
  { kind: 'failed' },
  { kind: 'task.cancel' },
  { kind: 'FAILED' },
  { q: 'needle' },
  { q: 'NEEDLE', ownerId: 'owner-b' },
  { q: '50%' },
  { q: '%' },
  { q: 'of_cases' },
  { q: '_' },
  { q: '\\' },
  { q: '"k": 1' },
  { q: '"k":1' },
  { q: 'replay' },
  { q: 'u-1' },
  { q: 'admin' },
  { q: 'failed', taskId: taskB },
  { q: 'orphan' },
  { q: 'no such word' },
];

describe('matchesLog', () => {
  it('reads every seeded row from the feed', () => {
    expect(rows).toHaveLength(8);
  });

  it.each(filters)('sees what /v1/logs sees for %o', async (m) => {
    const page = await new LogStore(database, { listTimeoutMs: 5000 }).list({ ...m, limit: 500 });
    const expected = page.items.map((i) => i.id).sort();
    const got = rows
      .filter((r) => matchesLog(r, m))
      .map((r) => r.item.id)
      .sort();
    expect(got).toEqual(expected);
  });

  it('carries the item exactly as /v1/logs shows it', async () => {
    const page = await new LogStore(database, { listTimeoutMs: 5000 }).list({ limit: 500 });
    const byId = new Map(page.items.map((i) => [i.id, i]));
    for (const r of rows) expect(JSON.stringify(r.item)).toBe(JSON.stringify(byId.get(r.item.id)));
  });
});
