import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Actor, AuditEntry, AuditStore } from '../audit/audit-store';
import type { Database } from '../db/client';
import { isUniqueViolation } from '../db/unique-violation';
import { ConflictError } from '../errors';
import { newId } from '../ids';
import type { TaskRecord } from '../tasks/task';
import { toDate } from '../tasks/task-row';
import type { Executor, NewTask, TaskStore } from '../tasks/task-store';
import type { MissedRuns, Overlap } from './firing-plan';
import type { ScheduleRecord } from './schedule';
import { scheduleFromRow } from './schedule';

export interface NewSchedule {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  task: Record<string, unknown>;
  missedRuns: MissedRuns;
  overlap: Overlap;
  paused: boolean;
  /** Null while paused. */
  nextRunAt: Date | null;
  createdBy: string;
}

/** What an edit changes; `nextRunAt` only when the cron expression or the time zone did. */
export type ScheduleChanges = Partial<
  Pick<NewSchedule, 'name' | 'cron' | 'timezone' | 'task' | 'missedRuns' | 'overlap' | 'nextRunAt'>
>;

const COLUMNS: Record<keyof ScheduleChanges, string> = {
  name: 'name',
  cron: 'cron',
  timezone: 'timezone',
  task: 'task',
  missedRuns: 'missed_runs',
  overlap: 'overlap',
  nextRunAt: 'next_run_at',
};

async function rowsOf(exec: Executor, query: SQL): Promise<Record<string, unknown>[]> {
  const result: unknown = await exec.execute(query);
  return (result as { rows: Record<string, unknown>[] }).rows;
}

/**
 * The API's reads and changes of schedules. Every change commits with its audit entry (one
 * statement, or one transaction), bumps `revision` (a firing prepared from an older revision
 * is dropped), and names the schedule's owner when `owner` is given: a dev reaches only its
 * own schedules, and another's is simply not found.
 */
export class ScheduleStore {
  constructor(
    private readonly database: Database,
    private readonly audit: AuditStore,
    private readonly tasks: TaskStore,
  ) {}

  /** The database's clock, which due times are computed from. */
  async now(): Promise<Date> {
    const [row] = await this.database.rows<{ now: unknown }>(sql`SELECT now() AS now`);
    return toDate(row!.now);
  }

  async create(s: NewSchedule, actor: Actor, data: Record<string, unknown>): Promise<ScheduleRecord> {
    const rows = await this.named(
      s.name,
      sql`
      WITH s AS (
        INSERT INTO schedules (id, name, cron, timezone, task, missed_runs, overlap, paused_at, next_run_at, created_by)
        VALUES (${s.id}::uuid, ${s.name}, ${s.cron}, ${s.timezone}, ${JSON.stringify(s.task)}::jsonb, ${s.missedRuns},
                ${s.overlap}, CASE WHEN ${s.paused} THEN now() END, ${iso(s.nextRunAt)}::timestamptz, ${s.createdBy})
        RETURNING *
      ), audit AS (${this.auditFrom('s', actor, 'schedule.create', data)})
      SELECT * FROM s`,
    );
    return scheduleFromRow(rows[0]!);
  }

  async get(id: string, owner?: string): Promise<ScheduleRecord | null> {
    const rows = await this.database.rows(sql`SELECT * FROM schedules WHERE id = ${id}::uuid${mine(owner)}`);
    return rows[0] ? scheduleFromRow(rows[0]) : null;
  }

  /** Schedules newest first, one page (of `limit`, and whether another follows). */
  async list(f: { owner?: string; before?: string; limit: number }): Promise<{
    items: ScheduleRecord[];
    more: boolean;
  }> {
    const before = f.before ? sql` AND id < ${f.before}::uuid` : sql``;
    const rows = await this.database.rows(
      sql`SELECT * FROM schedules WHERE true${mine(f.owner)}${before} ORDER BY id DESC LIMIT ${f.limit + 1}`,
    );
    return { items: rows.slice(0, f.limit).map(scheduleFromRow), more: rows.length > f.limit };
  }

  /** Applies an edit made from `revision`; null when the schedule changed (or went) meanwhile. */
  async update(id: string, revision: number, changes: ScheduleChanges, actor: Actor) {
    const sets = (Object.keys(changes) as (keyof ScheduleChanges)[]).map((k) => {
      const v = changes[k];
      const value =
        k === 'task'
          ? sql`${JSON.stringify(v)}::jsonb`
          : k === 'nextRunAt'
            ? sql`${iso(v as Date | null)}::timestamptz`
            : sql`${v as string}`;
      return sql`${sql.raw(COLUMNS[k])} = ${value}`;
    });
    const data = { changed: Object.keys(changes).filter((k) => k !== 'nextRunAt') };
    return this.change(
      changes.name,
      sql`UPDATE schedules SET ${sql.join(sets, sql`, `)}, revision = revision + 1, updated_at = now()
          WHERE id = ${id}::uuid AND revision = ${revision} RETURNING *`,
      actor,
      'schedule.update',
      data,
    );
  }

  /** Pauses (nothing fires; no next due time) or resumes (from `nextRunAt`) a schedule. */
  async setPaused(id: string, paused: boolean, nextRunAt: Date | null, actor: Actor, owner?: string) {
    const set = paused
      ? sql`paused_at = COALESCE(paused_at, now()), next_run_at = NULL`
      : sql`next_run_at = CASE WHEN paused_at IS NULL THEN next_run_at ELSE ${iso(nextRunAt)}::timestamptz END,
            paused_at = NULL, paused_reason = NULL`;
    return this.change(
      undefined,
      sql`UPDATE schedules SET ${set}, revision = revision + 1, updated_at = now()
          WHERE id = ${id}::uuid${mine(owner)} RETURNING *`,
      actor,
      paused ? 'schedule.pause' : 'schedule.resume',
      {},
    );
  }

  /** Deletes a schedule (its firings go with it; its tasks stay, naming it). */
  async delete(id: string, actor: Actor, owner?: string): Promise<ScheduleRecord | null> {
    return this.change(
      undefined,
      sql`DELETE FROM schedules WHERE id = ${id}::uuid${mine(owner)} RETURNING *`,
      actor,
      'schedule.delete',
      {},
    );
  }

  /**
   * Fires a schedule now (`trigger`): the task, the schedule's last firing and the audit entry
   * in one transaction, the schedule's row locked so that a firing in progress finishes first.
   * Null when the schedule is gone.
   */
  async trigger(
    id: string,
    task: NewTask,
    actor: Actor,
    owner?: string,
  ): Promise<{ schedule: ScheduleRecord; task: TaskRecord } | null> {
    return this.database.db.transaction(async (tx) => {
      const [locked] = await rowsOf(
        tx,
        sql`SELECT id FROM schedules WHERE id = ${id}::uuid${mine(owner)} FOR UPDATE`,
      );
      if (!locked) return null;
      const [inserted] = await this.tasks.insertWithin(tx, [task]);
      const [row] = await rowsOf(
        tx,
        sql`UPDATE schedules SET last_run_at = now(), last_task_id = ${inserted!.id}::uuid
            WHERE id = ${id}::uuid RETURNING *`,
      );
      await tx.execute(this.entry(actor, 'schedule.trigger', id, { taskId: inserted!.id }));
      return { schedule: scheduleFromRow(row!), task: inserted! };
    });
  }

  /** A change to one schedule with its audit entry, in one statement; null when none matched. */
  private async change(
    name: string | undefined,
    change: SQL,
    actor: Actor,
    action: string,
    data: Record<string, unknown>,
  ): Promise<ScheduleRecord | null> {
    const rows = await this.named(
      name,
      sql`WITH s AS (${change}), audit AS (${this.auditFrom('s', actor, action, data)}) SELECT * FROM s`,
    );
    return rows[0] ? scheduleFromRow(rows[0]) : null;
  }

  /** Runs a statement that may take a name its owner already uses: 409. */
  private async named(name: string | undefined, query: SQL): Promise<Record<string, unknown>[]> {
    try {
      return await this.database.rows(query);
    } catch (err) {
      if (name !== undefined && isUniqueViolation(err))
        throw new ConflictError(`You already have a schedule named ${JSON.stringify(name)}.`);
      throw err;
    }
  }

  private entry(actor: Actor, action: string, target: string, data: Record<string, unknown>): SQL {
    const e: AuditEntry = { actor: actor.principal, action, target, requestId: actor.requestId, data };
    return this.audit.insertSql(e);
  }

  /** The audit entry of a change to the one row the CTE `cte` returned (its name in the data). */
  private auditFrom(cte: string, actor: Actor, action: string, data: Record<string, unknown>): SQL {
    return sql`INSERT INTO audit_log (id, actor_id, actor_name, action, target, request_id, data)
      SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name}, ${action}, ${sql.raw(cte)}.id::text,
             ${actor.requestId}, ${JSON.stringify(data)}::jsonb || jsonb_build_object('name', ${sql.raw(cte)}.name)
      FROM ${sql.raw(cte)}`;
  }
}

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** Limits a statement to one owner's schedules (a dev's), or to none (ops). */
function mine(owner: string | undefined): SQL {
  return owner === undefined ? sql`` : sql` AND created_by = ${owner}`;
}
