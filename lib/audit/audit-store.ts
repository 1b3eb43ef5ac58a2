import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Principal } from '../auth/roles';
import type { Database } from '../db/client';
import { newId } from '../ids';
import { toDate } from '../tasks/task-row';

/** Who makes a privileged change, under which request: what its audit entry names. */
export interface Actor {
  principal: Pick<Principal, 'id' | 'name'>;
  requestId: string | null;
}

/** A privileged action to record: who did what to which target, under which request. */
export interface AuditEntry {
  actor: Pick<Principal, 'id' | 'name'>;
  /** Dotted verb, e.g. `user.create`, `dlq.replay`, `queue.pause`. */
  action: string;
  target: string | null;
  requestId: string | null;
  data?: Record<string, unknown>;
}

export interface AuditView {
  id: string;
  at: string;
  actorId: string;
  actorName: string | null;
  action: string;
  target: string | null;
  requestId: string | null;
  data: unknown;
}

/** The audit log: append-only. */
export class AuditStore {
  constructor(private readonly database: Database) {}

  async record(e: AuditEntry): Promise<void> {
    await this.database.rows(this.insertSql(e));
  }

  /** The INSERT for an entry, to run inside another statement's transaction if needed. */
  insertSql(e: AuditEntry): SQL {
    return sql`INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id, data)
      VALUES (${newId()}::uuid, ${e.actor.id}, ${e.actor.name}, ${e.action}, ${e.target}, ${e.requestId},
              ${e.data ? JSON.stringify(e.data) : null}::jsonb)`;
  }
}

/** An audit_log row from raw SQL. */
export function auditFromRow(r: Record<string, unknown>): AuditView {
  return {
    id: String(r.id),
    at: toDate(r.at).toISOString(),
    actorId: String(r.actor_id),
    actorName: (r.actor_name as string | null) ?? null,
    action: String(r.action),
    target: (r.target as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
    data: r.data ?? null,
  };
}
