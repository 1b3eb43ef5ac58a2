import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import type { Database } from '../../lib/db/client';
import { openPostgres } from '../../lib/db/client';
import { migratePostgres } from '../../lib/db/migrate';
import { newId } from '../../lib/ids';
import { silentLogger } from '../../lib/logger';
import type { NewTask } from '../../lib/tasks/task-store';
import { newTaskTrace } from '../../lib/tasks/task-trace';

/** A migrated PostgreSQL database of its own for one measurement, dropped afterwards. */
export interface BenchDatabase {
  database: Database;
  url: string;
  drop(): Promise<void>;
}

export async function benchDatabase(adminUrl: string, poolSize = 20): Promise<BenchDatabase> {
  const name = `procurator_bench_ret_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migratePostgres(url.toString());
  const database = openPostgres(url.toString(), poolSize, silentLogger());
  return {
    database,
    url: url.toString(),
    async drop() {
      await database.close();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * `n` ended tasks of `status` (4 events each) that ended `ageDays` ago, then VACUUM ANALYZE:
 * a history as a deployment that ran a while has one. Answers how many events there are.
 */
export async function seedHistory(
  database: Database,
  n: number,
  options: { status?: 'succeeded' | 'dead'; ageDays?: number } = {},
): Promise<number> {
  const status = options.status ?? 'succeeded';
  const age = `${options.ageDays ?? 8} days`;
  await database.rows(sql`
    INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by,
                       created_at, updated_at, finished_at)
    SELECT procurator_uuid_v7(), 'demo.echo', 'default', 'normal', ${status}, '{"n":1}'::jsonb, 5, 60000, 'bench',
           now() - ${age}::interval - interval '1 day', now() - ${age}::interval - g * interval '1 ms',
           now() - ${age}::interval
    FROM generate_series(1, ${n}::int) g`);
  await database.rows(sql`
    INSERT INTO task_events (id, task_id, at, kind, attempt, message)
    SELECT procurator_uuid_v7(), t.id, t.updated_at, k.kind, 1, 'history'
    FROM tasks t, (VALUES ('submitted'), ('started'), ('started'), ('succeeded')) AS k(kind)
    WHERE t.status = ${status}`);
  await database.rows(sql`VACUUM ANALYZE tasks`);
  await database.rows(sql`VACUUM ANALYZE task_events`);
  const [ev] = await database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM task_events`);
  return ev!.n;
}

/** What the API inserts for one `demo.echo` submission of about 200 bytes. */
export function benchTask(): NewTask {
  return {
    id: newId(),
    type: 'demo.echo',
    queue: 'default',
    priority: 'normal',
    concurrencyKey: null,
    ...newTaskTrace(),
    payload: { data: 'x'.repeat(180) },
    maxAttempts: 5,
    timeoutMs: 60000,
    runAt: null,
    delayMs: 0,
    callbackUrl: null,
    metadata: {},
    createdBy: 'bench',
    idempotencyKey: null,
    requestHash: null,
    dependsOn: [],
  };
}
