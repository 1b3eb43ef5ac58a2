import type { AuditView } from '../audit/audit-store';
import { auditFromRow } from '../audit/audit-store';
import type { Database } from '../db/client';
import type { TaskEventView } from '../tasks/task';
import { eventFromRow } from '../tasks/task-row';
import type { LogFilter } from './log-query';
import { logQuery } from './log-query';

/** One line of /v1/logs: a task event or an audit entry, told apart by `source`. */
export type LogItem = ({ source: 'task_event' } & TaskEventView) | ({ source: 'audit' } & AuditView);

/**
 * Task events and audit entries merged, newest first. Both have UUIDv7 ids, which sort by
 * time, so one id cursor pages through the merge. A page that takes the database longer than
 * `listTimeoutMs` (a keyword search over years of entries) is stopped by the server:
 * QueryTimeoutError.
 */
export class LogStore {
  constructor(
    private readonly database: Database,
    private readonly limits: { listTimeoutMs: number },
  ) {}

  async list(f: LogFilter): Promise<{ items: LogItem[]; more: boolean }> {
    const rows = await this.database.rowsWithin(logQuery(f), this.limits.listTimeoutMs);
    const items = rows.slice(0, f.limit).map(toItem);
    return { items, more: rows.length > f.limit };
  }
}

/** A row of EVENT_COLUMNS or AUDIT_COLUMNS as the item /v1/logs shows. */
export function toItem(r: Record<string, unknown>): LogItem {
  if (r.source === 'audit') return { source: 'audit', ...auditFromRow({ ...r, action: r.kind }) };
  return { source: 'task_event', ...eventFromRow(r) };
}
