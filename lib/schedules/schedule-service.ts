import type { Principal } from '../auth/roles';
import { seesAllTasks } from '../auth/roles';
import type { UserStore } from '../auth/user-store';
import type { FieldProblem } from '../errors';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors';
import { isUuid, newId } from '../ids';
import type { TaskEvents } from '../observability/task-events';
import type { SubmitService } from '../tasks/submit-service';
import type { Submission } from '../tasks/submission';
import type { TaskRecord } from '../tasks/task';
import type { NewTask } from '../tasks/task-store';
import { parseCron } from './cron-spec';
import type { CronSpec } from './cron-spec';
import type { MissedRuns, Overlap } from './firing-plan';
import type { ScheduleRecord } from './schedule';
import type { ScheduleChanges, ScheduleStore } from './schedule-store';
import { OWNER, storedTemplate } from './template';

/** Who asks, under which request: the actor of the change, and whose schedules it reaches. */
export interface Caller {
  principal: Principal;
  requestId: string | null;
}

/** A template as the route's validator accepted it, beside the object as it was sent. */
export interface TemplateInput {
  accepted: Omit<Submission, 'delayMs' | 'runAt'>;
  raw: Record<string, unknown>;
}

export interface ScheduleInput {
  name: string;
  cron: string;
  timezone: string;
  task: TemplateInput;
  missedRuns: MissedRuns;
  overlap: Overlap;
  paused: boolean;
}

export type SchedulePatch = Partial<Omit<ScheduleInput, 'paused'>>;

export interface ScheduleServiceDeps {
  store: ScheduleStore;
  submit: Pick<SubmitService, 'prepare' | 'announce'>;
  users: Pick<UserStore, 'principalOf'>;
  events: TaskEvents;
}

/**
 * Schedules as the API manages them (README "Schedules"): a dev its own, ops and admin every
 * one (another's is 404 to a dev). The cron expression, the time zone and the task template
 * are checked as the firer will use them — the template with the very checks of
 * POST /v1/tasks, as the schedule's owner would submit it — so a refusal comes now (422, or
 * 403 for a type the owner may not submit), not at the first due time.
 */
export class ScheduleService {
  constructor(private readonly d: ScheduleServiceDeps) {}

  async create(caller: Caller, input: ScheduleInput): Promise<ScheduleRecord> {
    if (caller.principal.legacy) {
      throw new ForbiddenError(
        'A schedule fires as its owner, which must be a user: a deprecated API_TOKENS token cannot own one. ' +
          'Create a user (procurator create-user) and use its token.',
      );
    }
    const now = await this.d.store.now();
    const spec = await this.check(caller.principal, input, now);
    return this.d.store.create(
      {
        id: newId(),
        name: input.name,
        cron: input.cron,
        timezone: input.timezone,
        task: input.task.raw,
        missedRuns: input.missedRuns,
        overlap: input.overlap,
        paused: input.paused,
        nextRunAt: input.paused ? null : spec.next(now),
        createdBy: caller.principal.id,
      },
      caller,
      { cron: input.cron, timezone: input.timezone, type: input.task.accepted.type, paused: input.paused },
    );
  }

  list(caller: Caller, page: { before?: string; limit: number }) {
    return this.d.store.list({ owner: scope(caller), ...page });
  }

  /** A schedule the caller may see, else 404. */
  async get(caller: Caller, id: string): Promise<ScheduleRecord> {
    const s = isUuid(id) ? await this.d.store.get(id, scope(caller)) : null;
    if (!s) throw new NotFoundError(`No schedule ${JSON.stringify(id.slice(0, 100))}.`);
    return s;
  }

  /** Edits take effect from the next due time: a new cron or time zone computes it again. */
  async update(caller: Caller, id: string, patch: SchedulePatch): Promise<ScheduleRecord> {
    const s = await this.get(caller, id);
    const now = await this.d.store.now();
    const merged = { cron: patch.cron ?? s.cron, timezone: patch.timezone ?? s.timezone, task: patch.task };
    const owner = patch.task ? await this.owner(s) : caller.principal;
    const spec = await this.check(owner, merged, now, caller.principal);
    const changes: ScheduleChanges = {};
    if (patch.name !== undefined) changes.name = patch.name;
    if (patch.missedRuns !== undefined) changes.missedRuns = patch.missedRuns;
    if (patch.overlap !== undefined) changes.overlap = patch.overlap;
    if (patch.task !== undefined) changes.task = patch.task.raw;
    if (patch.cron !== undefined || patch.timezone !== undefined) {
      changes.cron = merged.cron;
      changes.timezone = merged.timezone;
      if (s.pausedAt === null) changes.nextRunAt = spec.next(now);
    }
    if (Object.keys(changes).length === 0) return s;
    const updated = await this.d.store.update(s.id, s.revision, changes, caller);
    if (!updated) throw new ConflictError('The schedule changed (or was deleted) meanwhile; read it again.');
    return updated;
  }

  async setPaused(caller: Caller, id: string, paused: boolean): Promise<ScheduleRecord> {
    const s = await this.get(caller, id);
    const next = paused ? null : spec(s).next(await this.d.store.now());
    const updated = await this.d.store.setPaused(s.id, paused, next, caller, scope(caller));
    if (!updated) throw new NotFoundError(`No schedule ${id}.`);
    return updated;
  }

  /**
   * Fires the schedule now, as its owner would submit the task, paused or not and whatever
   * `overlap` says (it is asked for): 409 when the owner is gone, 403 or 422 when the owner
   * may no longer submit the template.
   */
  async trigger(caller: Caller, id: string): Promise<TaskRecord> {
    const s = await this.get(caller, id);
    const task: NewTask = {
      ...(await this.d.submit.prepare(await this.owner(s), storedTemplate(s.task), {
        prefix: 'task',
        whose: OWNER,
      })),
      scheduleId: s.id,
    };
    const fired = await this.d.store.trigger(s.id, task, caller, scope(caller));
    if (!fired) throw new NotFoundError(`No schedule ${id}.`);
    await this.d.submit.announce([fired.task]);
    this.d.events.emit('schedule_fired', { scheduleId: s.id, count: 1 });
    return fired.task;
  }

  async delete(caller: Caller, id: string): Promise<void> {
    const s = await this.get(caller, id);
    if (!(await this.d.store.delete(s.id, caller, scope(caller))))
      throw new NotFoundError(`No schedule ${id}.`);
  }

  /** The schedule's owner as it is now; 409 when it has been deleted. */
  private async owner(s: ScheduleRecord): Promise<Principal> {
    const owner = await this.d.users.principalOf(s.createdBy);
    if (!owner) throw new ConflictError(`The schedule's owner (${s.createdBy}) no longer exists.`);
    return owner;
  }

  /**
   * Checks the timing and (when given) the template, naming every problem at once; a type
   * its owner — or the caller — may not submit is 403, as for POST /v1/tasks.
   */
  private async check(
    owner: Principal,
    s: { cron: string; timezone: string; task?: TemplateInput },
    now: Date,
    caller: Principal = owner,
  ): Promise<CronSpec> {
    const parsed = parseCron(s.cron, s.timezone, now);
    const errors: FieldProblem[] = parsed.ok ? [] : [...parsed.errors];
    if (s.task) {
      const template = { accepted: s.task.accepted, body: s.task.raw };
      try {
        for (const [who, whose] of new Map([
          [caller, 'your token'],
          [owner, OWNER],
        ]))
          await this.d.submit.prepare(who, template, { prefix: 'task', whose, now: now.getTime() });
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        errors.push(...(err.extra.errors ?? []));
      }
    }
    if (!parsed.ok || errors.length > 0) throw new ValidationError('The schedule is invalid.', errors);
    return parsed.spec;
  }
}

/** The owner a caller is limited to: a dev reaches its own schedules; ops and admin all. */
function scope(caller: Caller): string | undefined {
  return seesAllTasks(caller.principal) ? undefined : caller.principal.id;
}

function spec(s: ScheduleRecord): CronSpec {
  const parsed = parseCron(s.cron, s.timezone);
  if (!parsed.ok) throw new ValidationError('The schedule is invalid.', parsed.errors);
  return parsed.spec;
}
