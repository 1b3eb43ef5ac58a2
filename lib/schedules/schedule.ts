import { toDate, toDateOrNull } from '../tasks/task-row';
import type { MissedRuns, Overlap } from './firing-plan';

/** A `schedules` row, camelCased. */
export interface ScheduleRecord {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  /** The task template as it was sent: a submission without delayMs and runAt. */
  task: Record<string, unknown>;
  missedRuns: MissedRuns;
  overlap: Overlap;
  pausedAt: Date | null;
  pausedReason: string | null;
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  lastTaskId: string | null;
  revision: number;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The schedule as the API answers it (README "Schedules"). */
export interface ScheduleView {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  task: Record<string, unknown>;
  missedRuns: MissedRuns;
  overlap: Overlap;
  paused: boolean;
  pausedReason: string | null;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastTaskId: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** jsonb comes back parsed from both drivers, but as text from some raw paths. */
function jsonObject(value: unknown): Record<string, unknown> {
  const v: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return (v ?? {}) as Record<string, unknown>;
}

/** A `schedules` row from raw SQL (snake_case). */
export function scheduleFromRow(r: Record<string, unknown>): ScheduleRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    cron: String(r.cron),
    timezone: String(r.timezone),
    task: jsonObject(r.task),
    missedRuns: r.missed_runs as MissedRuns,
    overlap: r.overlap as Overlap,
    pausedAt: toDateOrNull(r.paused_at),
    pausedReason: (r.paused_reason as string | null) ?? null,
    nextRunAt: toDateOrNull(r.next_run_at),
    lastRunAt: toDateOrNull(r.last_run_at),
    lastTaskId: (r.last_task_id as string | null) ?? null,
    revision: Number(r.revision),
    createdBy: String(r.created_by),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toScheduleView(s: ScheduleRecord): ScheduleView {
  return {
    id: s.id,
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task,
    missedRuns: s.missedRuns,
    overlap: s.overlap,
    paused: s.pausedAt !== null,
    pausedReason: s.pausedReason,
    nextRunAt: iso(s.nextRunAt),
    lastRunAt: iso(s.lastRunAt),
    lastTaskId: s.lastTaskId,
    createdBy: s.createdBy,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}
