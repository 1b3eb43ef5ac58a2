import type { LogMatch } from './log-query';
import type { LogItem } from './log-store';

/** A log row as the live tail's feed reads it: the item, and what its filters look at. */
export interface FeedRow {
  item: LogItem;
  /** Its position's transaction (xid8 as decimal text). */
  tx: string;
  /** For a task event, its task's owner (null when the task is gone). */
  owner: string | null;
  /** `data::text` as PostgreSQL writes it, which is what `q` searches in /v1/logs. */
  dataText: string | null;
}

/**
 * Whether a reader with filter `m` sees `row`: the conditions eventConditions and
 * auditConditions (log-query.ts) put to the database for /v1/logs, said in JavaScript for the
 * live feed, which reads each row once for every reader. A test holds the two to the same
 * answers.
 */
export function matchesLog(row: FeedRow, m: LogMatch): boolean {
  const { item } = row;
  if (item.source === 'task_event') {
    if (m.ownerId !== undefined && row.owner !== m.ownerId) return false;
    if (m.taskId && item.taskId !== m.taskId) return false;
    if (m.kind && item.kind !== m.kind) return false;
    return m.q === undefined || containsAny(m.q, [item.kind, item.message, row.dataText]);
  }
  // The audit log is the operators': a dev's view has none of it.
  if (m.ownerId !== undefined) return false;
  if (m.taskId && item.target !== m.taskId) return false;
  if (m.kind && item.action !== m.kind) return false;
  return m.q === undefined || containsAny(m.q, [item.action, item.target, item.actorName, row.dataText]);
}

/** ILIKE '%q%' with q's wildcards taken literally: a case-insensitive substring. */
function containsAny(q: string, fields: (string | null)[]): boolean {
  const needle = q.toLowerCase();
  return fields.some((f) => f !== null && f.toLowerCase().includes(needle));
}
