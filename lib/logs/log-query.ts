import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { firstIdAt } from '../ids';

/** Which log items a reader sees: the filters /v1/logs and its live tail share. */
export interface LogMatch {
  /** Only events of tasks this user submitted, and no audit entries (a dev's view). */
  ownerId?: string;
  /** Events of this task, and audit entries that target it. */
  taskId?: string;
  /** An event kind or an audit action, exactly. */
  kind?: string;
  /** Case-insensitive substring of the message, kind or action, target, actor and data. */
  q?: string;
}

export interface LogFilter extends LogMatch {
  /** `at >= since` */
  since?: Date;
  /** `at < until` */
  until?: Date;
  /** Ids below this one (the previous page's last). */
  before?: string;
  /** Ids above this one (the newest a reader has: what came after it). */
  after?: string;
  limit: number;
}

/**
 * How far an entry's `at` may be from the time in its id for since/until to still find it.
 * The id is made by the process that writes the entry, `at` is the database's now() at the
 * start of the writing transaction: they differ by the clock difference between the two
 * hosts, and by a write's retries (a worker retries an outcome write for up to a minute with
 * the ids it chose before the first try).
 */
export const ID_TIME_SLACK_MS = 5 * 60_000;

/** `%q%` for ILIKE, with the wildcards of `q` itself taken literally. */
export function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/**
 * The one statement behind a page of /v1/logs: task events and audit entries merged, newest
 * first. Each side reads at most `limit + 1` rows in id order, through an index for the
 * ordinary filters: the primary key for since/until and the cursor, (kind, id) or
 * (action, id) for kind, (task_id, id) or (target, id) for taskId.
 */
export function logQuery(f: LogFilter): SQL {
  const n = f.limit + 1;
  const events = eventsQuery(f, n);
  const audit = auditConditions(f);
  const union = audit ? sql`(${events}) UNION ALL (${auditQuery(f, audit, n)})` : events;
  return sql`SELECT * FROM (${union}) merged ORDER BY id DESC LIMIT ${n}`;
}

/** The columns of a task event as /v1/logs reads them (toItem makes the item). */
export const EVENT_COLUMNS = sql`'task_event' AS source, e.id, e.at, e.kind, e.task_id::text AS task_id,
  e.attempt, e.worker_id, e.message, e.data, NULL::text AS actor_id, NULL::text AS actor_name,
  NULL::text AS target, NULL::text AS request_id`;

/** The columns of an audit entry, in the same order as EVENT_COLUMNS so the two can be merged. */
export const AUDIT_COLUMNS = sql`'audit' AS source, a.id, a.at, a.action AS kind, NULL::text AS task_id,
  NULL::int AS attempt, NULL::text AS worker_id, NULL::text AS message, a.data, a.actor_id,
  a.actor_name, a.target, a.request_id`;

/** The conditions of `m` on task events (alias `e`); matchesLog says the same in JavaScript. */
export function eventConditions(m: LogMatch): SQL[] {
  const where: SQL[] = [];
  if (m.ownerId !== undefined) {
    where.push(sql`e.task_id IN (SELECT id FROM tasks WHERE created_by = ${m.ownerId})`);
  }
  if (m.taskId) where.push(sql`e.task_id = ${m.taskId}::uuid`);
  if (m.kind) where.push(sql`e.kind = ${m.kind}`);
  if (m.q !== undefined) {
    const like = containsPattern(m.q);
    where.push(sql`(e.kind ILIKE ${like} ESCAPE '\\' OR e.message ILIKE ${like} ESCAPE '\\'
        OR e.data::text ILIKE ${like} ESCAPE '\\')`);
  }
  return where;
}

/**
 * The conditions of `m` on audit entries (alias `a`), or null when it sees none: a dev's view
 * has no audit entries.
 */
export function auditConditions(m: LogMatch): SQL[] | null {
  if (m.ownerId !== undefined) return null;
  const where: SQL[] = [];
  if (m.taskId) where.push(sql`a.target = ${m.taskId}`);
  if (m.kind) where.push(sql`a.action = ${m.kind}`);
  if (m.q !== undefined) {
    const like = containsPattern(m.q);
    where.push(sql`(a.action ILIKE ${like} ESCAPE '\\' OR a.target ILIKE ${like} ESCAPE '\\'
        OR a.actor_name ILIKE ${like} ESCAPE '\\' OR a.data::text ILIKE ${like} ESCAPE '\\')`);
  }
  return where;
}

function eventsQuery(f: LogFilter, n: number): SQL {
  const where = [...eventConditions(f), ...common('e', f)];
  return sql`SELECT ${EVENT_COLUMNS} FROM task_events e ${whereClause(where)} ORDER BY e.id DESC LIMIT ${n}`;
}

function auditQuery(f: LogFilter, audit: SQL[], n: number): SQL {
  const where = [...audit, ...common('a', f)];
  return sql`SELECT ${AUDIT_COLUMNS} FROM audit_log a ${whereClause(where)} ORDER BY a.id DESC LIMIT ${n}`;
}

/**
 * Time and cursor conditions. There is no index on `at`: ids are UUIDv7, whose first 48 bits
 * are the Unix milliseconds they were made at, so a time range is also an id range, which the
 * primary key (and the (kind, id)-style indexes) serve. The id bounds are widened by
 * ID_TIME_SLACK_MS and the `at` conditions kept, so that the answer is exactly `at` in range.
 */
function common(alias: 'e' | 'a', f: LogFilter): SQL[] {
  const t = sql.raw(alias);
  const where: SQL[] = [];
  if (f.since) {
    where.push(sql`${t}.id >= ${firstIdAt(f.since.getTime() - ID_TIME_SLACK_MS)}::uuid`);
    where.push(sql`${t}.at >= ${f.since.toISOString()}::timestamptz`);
  }
  if (f.until) {
    where.push(sql`${t}.id < ${firstIdAt(f.until.getTime() + ID_TIME_SLACK_MS)}::uuid`);
    where.push(sql`${t}.at < ${f.until.toISOString()}::timestamptz`);
  }
  if (f.before) where.push(sql`${t}.id < ${f.before}::uuid`);
  if (f.after) where.push(sql`${t}.id > ${f.after}::uuid`);
  return where;
}

export function whereClause(where: SQL[]): SQL {
  return where.length ? sql`WHERE ${sql.join(where, sql` AND `)}` : sql``;
}
