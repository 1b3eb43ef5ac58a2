import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { LogMatch } from './log-query';
import { AUDIT_COLUMNS, EVENT_COLUMNS, auditConditions, eventConditions, whereClause } from './log-query';

/**
 * The statements of the live tail (README "Live tail"). Log rows are read in (tx, id) order,
 * tx being the transaction that wrote the row, and only below the horizon: the oldest
 * transaction still running in the statement's own snapshot (pg_snapshot_xmin). Every
 * transaction below it has ended, so no row can ever appear before a row already read — the
 * order ids alone cannot give, as an id is made by its writer before its transaction commits
 * (and a retried write keeps the ids of its first try).
 */

/** A place in that order: every row at or before it has been read. */
export interface TailPosition {
  /** xid8, as its decimal text. */
  tx: string;
  id: string;
}

const ZERO_ID = '00000000-0000-0000-0000-000000000000';

/** The position just before everything a transaction `tx` or later writes. */
export function positionBefore(tx: string): TailPosition {
  return { tx, id: ZERO_ID };
}

/** Orders two positions (xid8 as decimal text compares as a bigint). */
export function comparePositions(a: TailPosition, b: TailPosition): number {
  const ta = BigInt(a.tx);
  const tb = BigInt(b.tx);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The current horizon: a tail that starts now starts there. */
export function horizonQuery(): SQL {
  return sql`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon`;
}

/**
 * Up to `limit` rows after `from` and below the horizon, every reader's alike (each filters
 * its own with matchesLog: with their tasks' owner and their data's text, what it needs). One
 * statement, so one snapshot: `horizon` is the horizon the rows were read up to, and `held`
 * says whether committed rows wait above it (behind a transaction still running). The row
 * with null `id` is there when no row is.
 */
export function feedQuery(from: TailPosition, limit: number): SQL {
  const after = (t: 'e' | 'a') => {
    const a = sql.raw(t);
    return sql`${a}.tx >= ${from.tx}::xid8 AND (${a}.tx, ${a}.id) > (${from.tx}::xid8, ${from.id}::uuid)
      AND ${a}.tx < h.x`;
  };
  return sql`
    WITH h AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
    SELECT h.x::text AS horizon,
           (EXISTS (SELECT 1 FROM task_events WHERE tx >= h.x)
             OR EXISTS (SELECT 1 FROM audit_log WHERE tx >= h.x)) AS held,
           m.*
    FROM h LEFT JOIN LATERAL (
      SELECT * FROM (
        (SELECT ${EVENT_COLUMNS}, e.tx AS tx_order, e.tx::text AS tx, e.data::text AS data_text,
                t.created_by AS owner
           FROM task_events e LEFT JOIN tasks t ON t.id = e.task_id
          WHERE ${after('e')} ORDER BY e.tx, e.id LIMIT ${limit})
        UNION ALL
        (SELECT ${AUDIT_COLUMNS}, a.tx AS tx_order, a.tx::text AS tx, a.data::text AS data_text,
                NULL::text AS owner
           FROM audit_log a WHERE ${after('a')} ORDER BY a.tx, a.id LIMIT ${limit})
      ) u ORDER BY u.tx_order, u.id LIMIT ${limit}
    ) m ON true`;
}

/** Where an item stands in the order; no row when no item has that id (any more). */
export function positionOfQuery(id: string): SQL {
  return sql`(SELECT tx::text AS tx FROM task_events WHERE id = ${id}::uuid AND tx IS NOT NULL)
    UNION ALL (SELECT tx::text AS tx FROM audit_log WHERE id = ${id}::uuid AND tx IS NOT NULL) LIMIT 1`;
}

/** Where a resumed tail's catch-up starts: after a known item, or after an id no longer stored. */
export type ResumeFrom = { position: TailPosition } | { afterId: string };

/**
 * What a reconnecting reader missed: the items of its filter after `from` up to `to` (the
 * position live delivery took over at), the newest `limit` of them, newest first.
 */
export function catchUpQuery(from: ResumeFrom, to: TailPosition, m: LogMatch, limit: number): SQL {
  const range = (t: 'e' | 'a'): SQL[] => {
    const a = sql.raw(t);
    const start =
      'position' in from
        ? sql`${a}.tx >= ${from.position.tx}::xid8
            AND (${a}.tx, ${a}.id) > (${from.position.tx}::xid8, ${from.position.id}::uuid)`
        : sql`${a}.id > ${from.afterId}::uuid`;
    return [start, sql`${a}.tx <= ${to.tx}::xid8 AND (${a}.tx, ${a}.id) <= (${to.tx}::xid8, ${to.id}::uuid)`];
  };
  const events = sql`SELECT ${EVENT_COLUMNS}, e.tx AS tx_order, e.tx::text AS tx FROM task_events e
    ${whereClause([...range('e'), ...eventConditions(m)])} ORDER BY e.tx DESC, e.id DESC LIMIT ${limit}`;
  const audit = auditConditions(m);
  const union = audit
    ? sql`(${events}) UNION ALL (SELECT ${AUDIT_COLUMNS}, a.tx AS tx_order, a.tx::text AS tx FROM audit_log a
        ${whereClause([...range('a'), ...audit])} ORDER BY a.tx DESC, a.id DESC LIMIT ${limit})`
    : events;
  return sql`SELECT * FROM (${union}) u ORDER BY tx_order DESC, id DESC LIMIT ${limit}`;
}
