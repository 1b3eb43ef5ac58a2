import { sql } from 'drizzle-orm';
import type { Actor } from '../audit/audit-store';
import type { Database } from '../db/client';
import { newId } from '../ids';
import { toDateOrNull } from '../tasks/task-row';

export interface QueueState {
  name: string;
  paused: boolean;
  pausedAt: string | null;
  pausedBy: string | null;
}

/**
 * Paused queues: a paused queue starts nothing (its tasks wait, none is lost) until resumed.
 * Each change and its audit entry are one statement.
 */
export class QueuePauseStore {
  constructor(private readonly database: Database) {}

  pause(name: string, actor: Actor): Promise<QueueState> {
    return this.set(name, true, actor);
  }

  resume(name: string, actor: Actor): Promise<QueueState> {
    return this.set(name, false, actor);
  }

  /** The names of the paused queues. */
  async paused(): Promise<Set<string>> {
    const rows = await this.database.rows<{ name: string }>(
      sql`SELECT name FROM queue_states WHERE paused_at IS NOT NULL`,
    );
    return new Set(rows.map((r) => r.name));
  }

  async list(): Promise<QueueState[]> {
    const rows = await this.database.rows(sql`SELECT * FROM queue_states ORDER BY name`);
    return rows.map(toState);
  }

  private async set(name: string, paused: boolean, actor: Actor): Promise<QueueState> {
    const rows = await this.database.rows(sql`
      WITH s AS (
        INSERT INTO queue_states (name, paused_at, paused_by, updated_at)
        VALUES (${name}, CASE WHEN ${paused} THEN now() END, CASE WHEN ${paused} THEN ${actor.principal.id} END, now())
        ON CONFLICT (name) DO UPDATE SET
          paused_at = CASE WHEN ${paused} THEN COALESCE(queue_states.paused_at, now()) END,
          paused_by = CASE WHEN ${paused} THEN COALESCE(queue_states.paused_by, ${actor.principal.id}) END,
          updated_at = now()
        RETURNING *
      ), audit AS (
        INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id)
        SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name},
               ${paused ? 'queue.pause' : 'queue.resume'}, s.name, ${actor.requestId} FROM s
      )
      SELECT * FROM s`);
    return toState(rows[0]!);
  }
}

function toState(r: Record<string, unknown>): QueueState {
  const pausedAt = toDateOrNull(r.paused_at);
  return {
    name: String(r.name),
    paused: pausedAt !== null,
    pausedAt: pausedAt ? pausedAt.toISOString() : null,
    pausedBy: (r.paused_by as string | null) ?? null,
  };
}
