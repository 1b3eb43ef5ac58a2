import { sql } from 'drizzle-orm';
import pg from 'pg';
import type { Database } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import { newClaimIds } from '../../lib/tasks/attempt-batches';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { OutcomeStore } from '../../lib/tasks/outcome-store';
import { percentile } from '../peers/stats';
import type { BenchDatabase } from '../retention/bench-database';
import { benchDatabase } from '../retention/bench-database';

/**
 * The schemas compared: before migration 0011; its `tx` column and index alone (no trigger);
 * as migrated; and with a NOTIFY in every statement that writes events (no throttle).
 */
export type Variant = 'without' | 'tx-index-only' | 'with' | 'every-statement';
export const VARIANTS: readonly Variant[] = ['without', 'tx-index-only', 'with', 'every-statement'];

export interface RoundFigures {
  variant: Variant;
  tasks: number;
  /** Task ends (claim + success, the worker's two writes) per second. */
  perSecond: number;
  /** Latency of the success write (OutcomeStore.succeed) alone. */
  succeedP50Ms: number;
  succeedP99Ms: number;
  /** Notifications the listener received during the round. */
  notifications: number;
}

/** Rewinds migration 0011 on one database: the schema the live tail found. */
const UNDO_0011 = [
  'DROP TRIGGER task_events_log_notify ON task_events',
  'DROP TRIGGER audit_log_log_notify ON audit_log',
  'DROP FUNCTION procurator_log_notify()',
  'DROP SEQUENCE procurator_log_tick',
  'DROP INDEX task_events_tx_idx',
  'DROP INDEX audit_log_tx_idx',
  'ALTER TABLE task_events DROP COLUMN tx',
  'ALTER TABLE audit_log DROP COLUMN tx',
];

/** What a design without the throttle would do: one NOTIFY per statement that writes events. */
const EVERY_STATEMENT = `CREATE OR REPLACE FUNCTION procurator_log_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('procurator_logs', '');
  RETURN NULL;
END
$$`;

export interface VariantDatabase {
  variant: Variant;
  bench: BenchDatabase;
  listener: pg.Client;
  notifications: number;
}

/** A database of its own per variant, each with a LISTEN connection open as `serve` keeps one. */
export async function openVariant(adminUrl: string, variant: Variant): Promise<VariantDatabase> {
  const bench = await benchDatabase(adminUrl, 20);
  if (variant === 'without') for (const s of UNDO_0011) await bench.database.rows(sql.raw(s));
  if (variant === 'tx-index-only')
    for (const s of UNDO_0011.slice(0, 2)) await bench.database.rows(sql.raw(s));
  if (variant === 'every-statement') await bench.database.rows(sql.raw(EVERY_STATEMENT));
  const listener = new pg.Client({ connectionString: bench.url });
  await listener.connect();
  const v: VariantDatabase = { variant, bench, listener, notifications: 0 };
  listener.on('notification', () => v.notifications++);
  await listener.query('LISTEN procurator_logs');
  return v;
}

export async function closeVariant(v: VariantDatabase): Promise<void> {
  await v.listener.end().catch(() => undefined);
  await v.bench.drop();
}

/**
 * One round: `tasks` queued tasks (seeded, not timed), then each claimed and succeeded through
 * the worker's own stores (AttemptStore.claim, OutcomeStore.succeed, batched as the worker
 * batches them) by `workers` worker ids of `loops` loops each.
 */
export async function runRound(
  v: VariantDatabase,
  tasks: number,
  workers: number,
  loops: number,
): Promise<RoundFigures> {
  const database = v.bench.database;
  const ids = await seed(database, tasks);
  const claims = new AttemptStore(database);
  const outcomes = new OutcomeStore(database);
  const succeedTimes: number[] = [];
  const before = v.notifications;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers * loops }, async (_, i) => {
      const workerId = `bench-${i % workers}`;
      for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
        const claimed = await claims.claim({ taskId: id, seq: 1, ids: newClaimIds() }, workerId, 60_000);
        if (claimed.kind !== 'claimed') throw new Error(`claim of ${id}: ${claimed.kind}`);
        const s = performance.now();
        const done = await outcomes.succeed(claimed.task, workerId, '{"ok":true}', 1, newId());
        succeedTimes.push(performance.now() - s);
        if (!done) throw new Error(`success of ${id} lost its lease`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  // Let the last notifications arrive before counting them.
  await new Promise((r) => setTimeout(r, 100));
  return {
    variant: v.variant,
    tasks,
    perSecond: tasks / seconds,
    succeedP50Ms: percentile(succeedTimes, 50),
    succeedP99Ms: percentile(succeedTimes, 99),
    notifications: v.notifications - before,
  };
}

async function seed(database: Database, n: number): Promise<string[]> {
  const rows = await database.rows<{ id: string }>(sql`
    INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by)
    SELECT procurator_uuid_v7(), 'demo.echo', 'default', 'normal', 'queued', '{"n":1}'::jsonb, 5, 60000, 'bench'
    FROM generate_series(1, ${n}::int)
    RETURNING id::text`);
  await database.rows(sql`ANALYZE tasks`);
  return rows.map((r) => r.id);
}
