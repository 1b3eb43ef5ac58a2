import type { Actor } from '../../lib/audit/audit-store';
import type { Principal } from '../../lib/auth/roles';
import type { TaskView } from '../../lib/tasks/task';

/** A schedule as the console shows it (the API's schedule object, API.md "Schedules"). */
export interface ScheduleView {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  task: Record<string, unknown>;
  missedRuns: string;
  overlap: string;
  paused: boolean;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastTaskId: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What an edit may change. */
export interface SchedulePatch {
  cron?: string;
  timezone?: string;
  task?: unknown;
  missedRuns?: string;
  overlap?: string;
}

/**
 * What the console's schedules page needs of the schedules service: the same calls the
 * /v1/schedules routes make, scoped the same way (a dev: its own; ops: all). Another user's
 * schedule is null for a dev, as it is 404 on the API.
 */
export interface ConsoleSchedules {
  list(
    principal: Principal,
    page: { cursor?: string; limit: number },
  ): Promise<{ items: ScheduleView[]; nextCursor: string | null }>;
  get(principal: Principal, id: string): Promise<ScheduleView | null>;
  pause(actor: Actor, id: string): Promise<ScheduleView>;
  resume(actor: Actor, id: string): Promise<ScheduleView>;
  trigger(actor: Actor, id: string): Promise<TaskView>;
  update(actor: Actor, id: string, patch: SchedulePatch): Promise<ScheduleView>;
}
