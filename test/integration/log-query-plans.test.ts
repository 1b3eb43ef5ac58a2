import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import type { LogFilter } from '../../lib/logs/log-query';
import { logQuery } from '../../lib/logs/log-query';
import { taskListQuery } from '../../lib/tasks/task-store';
import type { TestPostgres } from '../helpers/databases';
import { createTestPostgres } from '../helpers/databases';
import { BIG_OWNER, RARE_ACTION, RARE_KIND, SMALL_OWNER, fillLogTables } from '../helpers/log-tables';

// What PostgreSQL does with the exact statements LogStore and TaskStore run, on tables big
// enough (and ANALYZEd) for the planner to choose as it would in production: the ordinary
// filters of /v1/logs are served by an index, and a time window reads about the rows in it.

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

let pg: TestPostgres;
let database: Database;
/** The time of the newest event. */
let last: Date;
let someTask: string;

async function plan(query: SQL, analyze = false): Promise<PlanNode> {
  const rows = await database.rows<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
    sql`EXPLAIN (FORMAT JSON${sql.raw(analyze ? ', ANALYZE' : '')}) ${query}`,
  );
  return rows[0]!['QUERY PLAN'][0]!.Plan;
}

/** Every node that reads `table`. */
function scansOf(node: PlanNode, table: string): PlanNode[] {
  const own = node['Relation Name'] === table ? [node] : [];
  return [...own, ...(node.Plans ?? []).flatMap((p) => scansOf(p, table))];
}

/** The index conditions of the Bitmap Index Scans under a Bitmap Heap Scan. */
function bitmapIndexes(node: PlanNode): PlanNode[] {
  return (node.Plans ?? []).flatMap((p) => (p['Node Type'] === 'Bitmap Index Scan' ? [p] : bitmapIndexes(p)));
}

/**
 * How `table` is read: the index (with its condition) of each scan of it, a bitmap heap scan
 * by its bitmap index scans. A sequential scan fails the test.
 */
function accessOf(node: PlanNode, table: string): { index: string; cond: string }[] {
  const scans = scansOf(node, table);
  expect(scans.length, `${table} is read`).toBeGreaterThan(0);
  return scans.flatMap((s) => {
    expect(s['Node Type'], `${table}: ${JSON.stringify(node)}`).not.toBe('Seq Scan');
    const via = s['Node Type'] === 'Bitmap Heap Scan' ? bitmapIndexes(s) : [s];
    return via.map((v) => ({ index: v['Index Name'] ?? '(none)', cond: v['Index Cond'] ?? '' }));
  });
}

const indexesOf = (node: PlanNode, table: string): string[] => accessOf(node, table).map((a) => a.index);

/** Rows a scan of `table` looked at: those it returned and those its filter threw away. */
function rowsRead(node: PlanNode, table: string): number {
  return scansOf(node, table).reduce(
    (n, s) => n + ((s['Actual Rows'] ?? 0) + (s['Rows Removed by Filter'] ?? 0)) * (s['Actual Loops'] ?? 1),
    0,
  );
}

const logs = (f: Partial<LogFilter>): SQL => logQuery({ limit: 50, ...f });
const minutesBefore = (d: Date, m: number) => new Date(d.getTime() - m * 60_000);

beforeAll(async () => {
  pg = await createTestPostgres();
  database = pg.open(4);
  last = await fillLogTables(database, { tasks: 20_000, eventsPerTask: 6, audit: 60_000 });
  const [row] = await database.rows<{ id: string }>(
    sql`SELECT id::text FROM tasks ORDER BY id LIMIT 1 OFFSET 5000`,
  );
  someTask = row!.id;
});
afterAll(async () => {
  await pg?.drop();
});

describe('/v1/logs statements on PostgreSQL', () => {
  it('serve since and until from the primary keys, as id bounds', async () => {
    const windows: Partial<LogFilter>[] = [
      { since: minutesBefore(last, 10) },
      { since: minutesBefore(last, 2 * 24 * 60), until: minutesBefore(last, 2 * 24 * 60 - 60) },
      { until: minutesBefore(last, 2 * 24 * 60) },
    ];
    for (const w of windows) {
      const p = await plan(logs(w));
      for (const [table, index] of [
        ['task_events', 'task_events_pkey'],
        ['audit_log', 'audit_log_pkey'],
      ] as const) {
        expect(indexesOf(p, table), JSON.stringify(w)).toEqual([index]);
        expect(accessOf(p, table)[0]!.cond, JSON.stringify(w)).toMatch(/\bid [<>]=? /);
      }
    }
  });

  it('read about the rows of the window, not the table, even when the window is empty', async () => {
    // An hour after the newest entry: nothing matches, and the bounds stop the scans at once
    // (without them, each side walked its whole table looking for a match).
    const empty = await plan(logs({ since: new Date(last.getTime() + 3_600_000) }), true);
    expect(rowsRead(empty, 'task_events') + rowsRead(empty, 'audit_log')).toBeLessThan(10);
    // A day ago, an hour wide: ~3,600 events and ~1,800 audit entries at most are in reach of
    // the bounds (the window and its slack), out of 120,000 and 60,000.
    const since = minutesBefore(last, 24 * 60);
    const hour = await plan(logs({ since, until: new Date(since.getTime() + 3_600_000) }), true);
    expect(rowsRead(hour, 'task_events')).toBeLessThan(1_000);
    expect(rowsRead(hour, 'audit_log')).toBeLessThan(1_000);
    const before = await plan(logs({ until: since }), true);
    expect(rowsRead(before, 'task_events') + rowsRead(before, 'audit_log')).toBeLessThan(1_000);
  });

  it('serve a rare kind from (kind, id) and (action, id), a common one from walking ids', async () => {
    for (const kind of [RARE_KIND, RARE_ACTION]) {
      for (const f of [{ kind }, { kind, since: minutesBefore(last, 24 * 60) }]) {
        const p = await plan(logs(f));
        expect(indexesOf(p, 'task_events'), JSON.stringify(f)).toEqual(['task_events_kind_id_idx']);
        expect(indexesOf(p, 'audit_log'), JSON.stringify(f)).toEqual(['audit_log_action_id_idx']);
      }
    }
    // Two events in five are `started`: the newest page of them is a short walk down the ids.
    const common = await plan(logs({ kind: 'started' }), true);
    expect(indexesOf(common, 'task_events')).not.toContain('(none)');
    expect(rowsRead(common, 'task_events')).toBeLessThan(1_000);
    expect(indexesOf(common, 'audit_log')).toEqual(['audit_log_action_id_idx']);
  });

  it('serve taskId from (task_id, id) and (target, id)', async () => {
    const p = await plan(logs({ taskId: someTask }));
    expect(indexesOf(p, 'task_events')).toEqual(['task_events_task_id_idx']);
    expect(indexesOf(p, 'audit_log')).toEqual(['audit_log_target_id_idx']);
  });

  it("serve a dev's own events through indexes, for a dev with few tasks and one with many", async () => {
    for (const ownerId of [SMALL_OWNER, BIG_OWNER]) {
      for (const f of [
        { ownerId },
        { ownerId, since: minutesBefore(last, 24 * 60) },
        { ownerId, kind: 'failed' },
      ]) {
        const p = await plan(logs(f));
        expect(scansOf(p, 'audit_log'), 'a dev sees no audit entries').toEqual([]);
        expect(indexesOf(p, 'tasks').length, JSON.stringify(f)).toBeGreaterThan(0);
        const events = indexesOf(p, 'task_events');
        expect(events.length, JSON.stringify(f)).toBeGreaterThan(0);
      }
    }
    // Few tasks: their events are looked up by task, not found by walking everyone's.
    expect(indexesOf(await plan(logs({ ownerId: SMALL_OWNER })), 'task_events')).toEqual([
      'task_events_task_id_idx',
    ]);
  });
});

describe('/v1/tasks and /v1/dlq statements on PostgreSQL', () => {
  it("serve a dev's tasks, the dead ones and everyone's through indexes", async () => {
    const cases: [Parameters<typeof taskListQuery>[0], string][] = [
      [{ createdBy: SMALL_OWNER, limit: 50 }, 'tasks_created_by_id_idx'],
      [{ status: 'dead', limit: 50 }, 'tasks_dead_id_idx'],
      [{ limit: 50 }, 'tasks_pkey'],
    ];
    for (const [f, index] of cases) {
      expect(indexesOf(await plan(taskListQuery(f)), 'tasks'), JSON.stringify(f)).toEqual([index]);
    }
  });
});
