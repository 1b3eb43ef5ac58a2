import { sql } from 'drizzle-orm';
import type { Database } from '../../lib/db/client';
import { benchDatabase } from './bench-database';
import type { LoadFigures } from './load-loop';
import { loadWhile, sleep } from './load-loop';

export interface RemovalFigures {
  events: number;
  removedEvents: number;
  removalMs: number;
  /** Single-row event inserts (8 loops) with nothing else running, and while the removal runs. */
  insertIdle: LoadFigures;
  insertRemoving: LoadFigures;
}

export interface PartitionFigures {
  plain: RemovalFigures;
  partitioned: RemovalFigures;
}

const DAY_MS = 86_400_000;

/**
 * The same history of `days` days of `tasksPerDay` tasks with 5 events each, in two copies of
 * task_events: as it is (one table; the oldest `dropDays` days removed by the pruner's batched
 * DELETE, 500 tasks' events per statement) and partitioned by day on `at` (those days removed
 * by dropping their partitions). Event inserts run throughout, as submissions and claims do.
 */
export async function measurePartitions(
  env: { pgAdminUrl: string },
  days: number,
  tasksPerDay: number,
  dropDays: number,
): Promise<PartitionFigures> {
  const db = await benchDatabase(env.pgAdminUrl, 20);
  const d = db.database;
  try {
    const start = Date.now() - (days - 1) * DAY_MS; // the last day is today
    const dayStart = (i: number) => new Date(Math.floor(start / DAY_MS) * DAY_MS + i * DAY_MS).toISOString();
    await d.rows(sql`
      CREATE TABLE hist_tasks (id uuid PRIMARY KEY, at timestamptz NOT NULL);
      CREATE INDEX ON hist_tasks (at)`);
    await d.rows(sql`
      INSERT INTO hist_tasks
      SELECT md5('t' || g)::uuid, ${dayStart(0)}::timestamptz + g * (${DAY_MS / tasksPerDay}::float8 * interval '1 ms')
      FROM generate_series(0, ${days * tasksPerDay - 1}::int) g`);
    const columns = sql.raw(`id uuid NOT NULL, task_id uuid NOT NULL, run int NOT NULL DEFAULT 0,
      at timestamptz NOT NULL DEFAULT now(), kind text NOT NULL, attempt int NOT NULL DEFAULT 0,
      worker_id text, message text, data jsonb`);
    await d.rows(sql`CREATE TABLE ev_plain (${columns}, PRIMARY KEY (id))`);
    await d.rows(
      sql`CREATE UNIQUE INDEX ON ev_plain (task_id, run) WHERE kind IN ('succeeded','dead_lettered','cancelled')`,
    );
    // A partitioned table's unique indexes must include the partition key: (task_id, run)
    // alone — "one end per run" — cannot be enforced on it.
    await d.rows(sql`CREATE TABLE ev_part (${columns}, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    for (let i = 0; i <= days; i++) {
      await d.rows(
        sql.raw(
          `CREATE TABLE ev_part_${i} PARTITION OF ev_part FOR VALUES FROM ('${dayStart(i)}') TO ('${dayStart(i + 1)}')`,
        ),
      );
    }
    for (const t of ['ev_plain', 'ev_part']) {
      await d.rows(sql.raw(`CREATE INDEX ON ${t} (task_id, id)`));
      await d.rows(sql.raw(`CREATE INDEX ON ${t} (kind, id)`));
      await d.rows(
        sql.raw(`INSERT INTO ${t} (id, task_id, at, kind, attempt, message, data)
          SELECT procurator_uuid_v7(), h.id, h.at + k * interval '1 s',
                 (ARRAY['submitted','started','failed','started','succeeded'])[k + 1], 1, 'event ' || k,
                 jsonb_build_object('k', k)
          FROM hist_tasks h, generate_series(0, 4) k`),
      );
      await d.rows(sql.raw(`VACUUM ANALYZE ${t}`));
    }
    const events = days * tasksPerDay * 5;
    const cutoff = dayStart(dropDays);

    const plain = await measureRemoval(d, 'ev_plain', events, async () => {
      let removed = 0;
      for (;;) {
        const [row] = await d.rows<{ n: number; t: number }>(sql`
          WITH v AS (SELECT id FROM hist_tasks WHERE at < ${cutoff}::timestamptz ORDER BY at LIMIT 500),
          e AS (DELETE FROM ev_plain WHERE task_id = ANY(ARRAY(SELECT id FROM v)) RETURNING 1),
          t AS (DELETE FROM hist_tasks WHERE id = ANY(ARRAY(SELECT id FROM v)) RETURNING 1)
          SELECT (SELECT count(*) FROM e)::int AS n, (SELECT count(*) FROM t)::int AS t`);
        removed += row!.n;
        if (row!.t < 500) return removed;
      }
    });
    const partitioned = await measureRemoval(d, 'ev_part', events, async () => {
      let removed = 0;
      for (let i = 0; i < dropDays; i++) {
        const [row] = await d.rows<{ n: number }>(sql.raw(`SELECT count(*)::int AS n FROM ev_part_${i}`));
        removed += row!.n;
        // DETACH … CONCURRENTLY needs a transaction of its own per statement; a plain DROP of
        // a partition takes an ACCESS EXCLUSIVE lock on the parent for a moment.
        await d.rows(sql.raw(`DROP TABLE ev_part_${i}`));
      }
      return removed;
    });
    return { plain, partitioned };
  } finally {
    await db.drop();
  }
}

async function measureRemoval(
  d: Database,
  table: string,
  events: number,
  remove: () => Promise<number>,
): Promise<RemovalFigures> {
  const insert = () =>
    d.rows(
      sql.raw(`INSERT INTO ${table} (id, task_id, kind, attempt, message)
        VALUES (procurator_uuid_v7(), gen_random_uuid(), 'started', 1, 'live')`),
    );
  const insertIdle = await loadWhile(8, insert, sleep(3000));
  let removedEvents = 0;
  let removalMs = 0;
  const t0 = performance.now();
  const removal = remove().then((n) => {
    removedEvents = n;
    removalMs = performance.now() - t0;
  });
  // At least a second of load, so that a removal done in milliseconds is still measured against something.
  const insertRemoving = await loadWhile(8, insert, Promise.all([removal, sleep(1000)]));
  return { events, removedEvents, removalMs, insertIdle, insertRemoving };
}
