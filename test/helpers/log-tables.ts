import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Database } from '../../lib/db/client';

export interface LogTablesShape {
  tasks: number;
  eventsPerTask: number;
  audit: number;
  /** Length of a filler string in each event's data: what a keyword search has to read. */
  noteChars?: number;
}

/** Who submitted task `t` of fillLogTables: one task in 500 is dev-small's, the rest user-0…user-19's. */
export const SMALL_OWNER = 'dev-small';
export const BIG_OWNER = 'user-3';
/** An event kind one event in 1000 has, and an audit action one entry in 1000 has. */
export const RARE_KIND = 'recovered';
export const RARE_ACTION = 'user.revoke';

/** A UUIDv7 of time `at` (its first 48 bits), the rest derived from `salt`: ids as the app makes them. */
function v7(at: SQL, salt: SQL): SQL {
  return sql`(lpad(to_hex((extract(epoch FROM ${at}) * 1000)::bigint), 12, '0') || '7'
    || substr(md5(${salt}), 1, 19))::uuid`;
}

/**
 * Fills a test database in a few statements (generate_series), then ANALYZEs it: tasks, their
 * events one second apart, and audit entries spread over the same time, all with ids made
 * from their `at`, the newest an hour ago. Returns the time of the newest event.
 */
export async function fillLogTables(database: Database, shape: LogTablesShape): Promise<Date> {
  const events = shape.tasks * shape.eventsPerTask;
  const last = new Date(Date.now() - 3_600_000);
  const base = sql`${new Date(last.getTime() - events * 1000).toISOString()}::timestamptz`;
  const taskAt = (t: SQL) => sql`${base} + (${t}) * ${shape.eventsPerTask}::int * interval '1 s'`;
  const taskId = (t: SQL) => v7(taskAt(t), sql`'t' || (${t})`);
  const eventAt = sql`${base} + g * interval '1 s'`;
  const auditAt = sql`${base} + g * ${events / shape.audit}::float8 * interval '1 s'`;
  const note = sql`repeat(md5(g::text), ${Math.ceil((shape.noteChars ?? 32) / 32)}::int)`;
  await database.rows(sql`
    INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by, created_at)
    SELECT ${taskId(sql`t`)}, 'demo.echo', 'default', 'normal',
           CASE WHEN t % 97 = 0 THEN 'dead' ELSE 'succeeded' END, '{}'::jsonb, 5, 60000,
           CASE WHEN t % 500 = 0 THEN ${SMALL_OWNER} ELSE 'user-' || (t % 20) END, ${taskAt(sql`t`)}
    FROM generate_series(0, ${shape.tasks - 1}::int) t`);
  await database.rows(sql`
    INSERT INTO task_events (id, task_id, run, at, kind, attempt, message, data)
    SELECT ${v7(eventAt, sql`'e' || g`)}, ${taskId(sql`(g - 1) / ${shape.eventsPerTask}::int`)}, 0, ${eventAt},
           CASE WHEN g % 1000 = 0 THEN ${RARE_KIND}
                ELSE (ARRAY['submitted', 'started', 'failed', 'retry_scheduled', 'started'])[g % 5 + 1] END,
           1, 'event message ' || md5(g::text), jsonb_build_object('n', g, 'note', ${note})
    FROM generate_series(1, ${events}::int) g`);
  await database.rows(sql`
    INSERT INTO audit_log (id, at, actor_id, actor_name, action, target, data)
    SELECT ${v7(auditAt, sql`'a' || g`)}, ${auditAt}, 'actor-' || (g % 7), 'Actor ' || (g % 7),
           CASE WHEN g % 1000 = 0 THEN ${RARE_ACTION}
                ELSE (ARRAY['task.cancel', 'dlq.replay', 'dlq.delete'])[g % 3 + 1] END,
           ${taskId(sql`g % ${shape.tasks}::int`)}::text, jsonb_build_object('n', g)
    FROM generate_series(1, ${shape.audit}::int) g`);
  await database.rows(sql`ANALYZE tasks, task_events, audit_log`);
  return last;
}
