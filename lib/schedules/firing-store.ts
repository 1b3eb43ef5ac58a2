import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { Actor } from '../audit/audit-store';
import type { Database } from '../db/client';
import { newId } from '../ids';
import { TERMINAL_STATUSES } from '../tasks/task';
import type { TaskRecord, TaskStatus } from '../tasks/task';
import { toDate } from '../tasks/task-row';
import type { Executor, NewTask, TaskStore } from '../tasks/task-store';
import type { CronSpec } from './cron-spec';
import { planFirings } from './firing-plan';
import type { FiringPlan } from './firing-plan';
import type { ScheduleRecord } from './schedule';
import { scheduleFromRow } from './schedule';

/** What firing a schedule needs besides its row: how due times are read and made into tasks. */
export interface FiringOptions {
  spec: CronSpec;
  /** A due time this close to a firer's life counts as seen by a running worker. */
  toleranceMs: number;
  maxFirings: number;
  /** The task of one due time: the prepared template with its own id, `runAt` the due time. */
  makeTask: (dueAt: Date) => NewTask;
}

async function rowsOf(exec: Executor, query: SQL): Promise<Record<string, unknown>[]> {
  const result: unknown = await exec.execute(query);
  return (result as { rows: Record<string, unknown>[] }).rows;
}

/**
 * The schedule firer's reads and writes (README "Schedules"): its life (the heartbeat that
 * tells a late firing from a missed one), the due schedules, and the firing itself — the
 * `schedule_firings` rows that decide, the tasks and the schedule's new next due time in one
 * transaction.
 */
export class FiringStore {
  constructor(
    private readonly database: Database,
    private readonly tasks: TaskStore,
  ) {}

  /** Records that the firer `lifeId` is running now (its life starts at its first beat). */
  async beat(lifeId: string, workerId: string): Promise<void> {
    await this.database.rows(sql`
      INSERT INTO schedule_firers (id, worker_id) VALUES (${lifeId}::uuid, ${workerId})
      ON CONFLICT (id) DO UPDATE SET seen_at = now()`);
  }

  /** Forgets lives that ended long ago: a due time that old counts as missed anyway. */
  async forgetLives(olderThanMs: number): Promise<void> {
    await this.database.rows(
      sql`DELETE FROM schedule_firers WHERE seen_at < now() - ${olderThanMs} * interval '1 millisecond'`,
    );
  }

  /** Active schedules with a due time up to now, the oldest first. */
  async due(limit: number): Promise<{ id: string; revision: number }[]> {
    const rows = await this.database.rows<{ id: string; revision: number }>(sql`
      SELECT id::text, revision FROM schedules
      WHERE paused_at IS NULL AND next_run_at <= now() ORDER BY next_run_at LIMIT ${limit}`);
    return rows.map((r) => ({ id: r.id, revision: Number(r.revision) }));
  }

  async read(id: string): Promise<ScheduleRecord | null> {
    const rows = await this.database.rows(sql`SELECT * FROM schedules WHERE id = ${id}::uuid`);
    return rows[0] ? scheduleFromRow(rows[0]) : null;
  }

  /**
   * Pauses a schedule that may not fire (its owner gone, its type no longer allowed to it),
   * with `reason` and an audit entry, unless it was edited since `revision` was read.
   */
  async pause(id: string, revision: number, reason: string, actor: Actor): Promise<boolean> {
    const rows = await this.database.rows(sql`
      WITH s AS (
        UPDATE schedules SET paused_at = now(), paused_reason = ${reason}, next_run_at = NULL,
               revision = revision + 1, updated_at = now()
        WHERE id = ${id}::uuid AND revision = ${revision} AND paused_at IS NULL
        RETURNING id, name, created_by
      ), audit AS (
        INSERT INTO audit_log (id, actor_id, actor_name, action, target, data)
        SELECT ${newId()}::uuid, ${actor.principal.id}, ${actor.principal.name}, 'schedule.pause', s.id::text,
               jsonb_build_object('name', s.name, 'owner', s.created_by, 'reason', ${reason}::text)
        FROM s
      )
      SELECT id FROM s`);
    return rows.length > 0;
  }

  /**
   * Fires what is due of schedule `id` as read at `revision`, in one transaction: the row is
   * locked (a firer holding it is skipped, not waited for), the due times are planned
   * against the firers' lives, each one fired gets its `schedule_firings` row — the primary
   * key (schedule, due time) lets one firing through, whatever else races it — and, for the
   * rows that went in, its task; then the next due time. Null when another firer holds the
   * row, or it changed since it was read; the tasks are still to be announced after the commit.
   */
  async fire(
    target: { id: string; revision: number },
    o: FiringOptions,
  ): Promise<{ tasks: TaskRecord[]; plan: FiringPlan } | null> {
    return this.database.db.transaction(async (tx) => {
      const [row] = await rowsOf(
        tx,
        sql`SELECT s.*, now() AS db_now FROM schedules s
            WHERE id = ${target.id}::uuid AND revision = ${target.revision} AND paused_at IS NULL
              AND next_run_at <= now()
            FOR UPDATE SKIP LOCKED`,
      );
      if (!row) return null;
      const s = scheduleFromRow(row);
      const now = toDate(row.db_now);
      const nextRunAt = s.nextRunAt!;
      const lives = await rowsOf(
        tx,
        sql`SELECT started_at, seen_at FROM schedule_firers
            WHERE seen_at >= ${new Date(nextRunAt.getTime() - o.toleranceMs).toISOString()}::timestamptz
              AND started_at <= ${new Date(now.getTime() + o.toleranceMs).toISOString()}::timestamptz`,
      );
      const plan = planFirings({
        spec: o.spec,
        nextRunAt,
        now,
        lives: lives.map((l) => ({
          startedAt: toDate(l.started_at).getTime(),
          seenAt: toDate(l.seen_at).getTime(),
        })),
        toleranceMs: o.toleranceMs,
        missedRuns: s.missedRuns,
        overlap: s.overlap,
        previousEnded: await previousEnded(tx, s),
        maxFirings: o.maxFirings,
      });
      const planned = plan.fire.map((due) => ({ due, task: o.makeTask(due) }));
      let tasks: TaskRecord[] = [];
      if (planned.length > 0) {
        const won = await rowsOf(
          tx,
          sql`INSERT INTO schedule_firings (schedule_id, due_at, task_id)
              SELECT ${s.id}::uuid, (f->>'due')::timestamptz, (f->>'task')::uuid
              FROM jsonb_array_elements(${JSON.stringify(planned.map((p) => ({ due: p.due.toISOString(), task: p.task.id })))}::jsonb) f
              ON CONFLICT (schedule_id, due_at) DO NOTHING
              RETURNING task_id::text`,
        );
        const ids = new Set(won.map((r) => String(r.task_id)));
        tasks = await this.tasks.insertWithin(
          tx,
          planned.filter((p) => ids.has(p.task.id)).map((p) => p.task),
        );
      }
      const last = planned.filter((p) => tasks.some((t) => t.id === p.task.id)).at(-1);
      await tx.execute(sql`
        UPDATE schedules SET next_run_at = ${plan.next ? plan.next.toISOString() : null}::timestamptz,
               last_run_at = COALESCE(${last ? last.due.toISOString() : null}::timestamptz, last_run_at),
               last_task_id = COALESCE(${last ? last.task.id : null}::uuid, last_task_id)
        WHERE id = ${s.id}::uuid`);
      // A firing row is needed only while another firer could still reach its due time.
      await tx.execute(
        sql`DELETE FROM schedule_firings WHERE schedule_id = ${s.id}::uuid AND due_at < now() - interval '1 day'`,
      );
      return { tasks, plan };
    });
  }
}

/** Whether the previous firing's task has ended (or is gone: pruned long after it ended). */
async function previousEnded(tx: Executor, s: ScheduleRecord): Promise<boolean> {
  if (s.overlap === 'allow' || s.lastTaskId === null) return true;
  const [row] = await rowsOf(tx, sql`SELECT status FROM tasks WHERE id = ${s.lastTaskId}::uuid`);
  return !row || TERMINAL_STATUSES.has(row.status as TaskStatus);
}
