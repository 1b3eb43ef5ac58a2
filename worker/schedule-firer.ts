import type { Actor } from '../lib/audit/audit-store';
import { backoffDelay } from '../lib/backoff';
import type { UserStore } from '../lib/auth/user-store';
import { ProblemError, ValidationError } from '../lib/errors';
import { newId } from '../lib/ids';
import type { Logger } from '../lib/logger';
import type { TaskEvents } from '../lib/observability/task-events';
import { parseCron } from '../lib/schedules/cron-spec';
import type { CronSpec } from '../lib/schedules/cron-spec';
import type { FiringStore } from '../lib/schedules/firing-store';
import type { ScheduleRecord } from '../lib/schedules/schedule';
import { OWNER, storedTemplate } from '../lib/schedules/template';
import type { SubmitService } from '../lib/tasks/submit-service';
import type { NewTask } from '../lib/tasks/task-store';
import { newTaskTrace } from '../lib/tasks/task-trace';
import { withTimeout } from '../lib/with-timeout';
import { PeriodicComponent } from './periodic';

export interface ScheduleFirerDeps {
  store: FiringStore;
  users: Pick<UserStore, 'principalOf'>;
  submit: Pick<SubmitService, 'prepare' | 'announce'>;
  events: TaskEvents;
  logger: Logger;
  workerId: string;
  /** How often it looks for due schedules: a due time fires within about this long. */
  intervalMs: number;
  /** Schedules per pass, and firings per schedule and pass; the rest follows at once. */
  batch?: number;
}

/** Lives that ended longer ago than this are forgotten (a due time that old counts as missed). */
const LIVES_KEPT_MS = 7 * 86_400_000;
const FORGET_EVERY_MS = 3_600_000;

/**
 * Fires schedules' due times as tasks (README "Schedules"). Every worker runs one; nothing
 * but PostgreSQL decides: a due schedule's row is locked by one firer (the others skip it)
 * and each due time's `schedule_firings` row lets exactly one task through. A firing is
 * submitted as the schedule's owner would submit it — through the submit service's checks,
 * enqueued after the commit — and an owner who is gone, or may no longer submit the type,
 * pauses the schedule (with an audit entry) instead.
 *
 * Its heartbeat is its life in `schedule_firers` (first check, last seen): a due time no
 * firer's life covers was missed (no worker ran then) and `missedRuns` applies; one that a
 * live firer reaches late fires all the same.
 */
export class ScheduleFirer extends PeriodicComponent {
  private readonly lifeId = newId();
  private readonly actor: Actor;
  private beatAt = 0;
  private forgotAt = 0;
  private backlog = false;
  private failures = 0;

  constructor(private readonly d: ScheduleFirerDeps) {
    super('schedule-firer', d.intervalMs, d.logger);
    this.actor = {
      principal: { id: 'procurator', name: `schedule firer of ${d.workerId}` },
      requestId: null,
    };
  }

  /** How often the life is extended: at most once a second, whatever the interval. */
  get beatEveryMs(): number {
    return Math.max(1000, this.d.intervalMs);
  }

  /**
   * How close to a firer's life a due time counts as seen by a running worker: a few beats,
   * so that a firer between two beats, starting or just stopped is not taken for downtime.
   */
  get toleranceMs(): number {
    return Math.max(5000, 3 * this.beatEveryMs);
  }

  async tick(): Promise<number> {
    let due: { id: string; revision: number }[];
    const batch = this.d.batch ?? 100;
    try {
      await this.beat();
      due = await this.d.store.due(batch);
      this.failures = 0;
    } catch (err) {
      // The database cannot answer: look again after a backoff, not four times a second.
      this.failures++;
      this.d.logger.warn({ err, failures: this.failures }, 'schedule firer could not read the due schedules');
      return 0;
    }
    let fired = 0;
    let more = due.length === batch;
    for (const target of due) {
      try {
        const r = await this.fireOne(target);
        fired += r.fired;
        more ||= r.more;
      } catch (err) {
        this.d.logger.warn({ err, scheduleId: target.id }, 'could not fire a schedule; trying again');
      }
    }
    this.backlog = more;
    return fired;
  }

  /**
   * Due times left after a bounded pass are fired at once, not an interval later; after
   * failures in a row, the next look waits longer (up to 5 s).
   */
  protected override nextDelayMs(): number {
    if (this.failures > 0)
      return backoffDelay(this.failures, { baseMs: this.d.intervalMs, maxMs: 5000, jitter: 'none' });
    return this.backlog ? 0 : this.d.intervalMs;
  }

  override async stop(): Promise<void> {
    await super.stop();
    // The life ends now rather than at its last beat; bounded, so that a database that has
    // gone away does not hold the shutdown up.
    await withTimeout(this.d.store.beat(this.lifeId, this.d.workerId), 1000, 'the last beat').catch(
      () => undefined,
    );
  }

  private async beat(): Promise<void> {
    const now = Date.now();
    if (now - this.beatAt >= this.beatEveryMs) {
      await this.d.store.beat(this.lifeId, this.d.workerId);
      this.beatAt = now;
    }
    if (now - this.forgotAt >= FORGET_EVERY_MS) {
      await this.d.store.forgetLives(LIVES_KEPT_MS);
      this.forgotAt = now;
    }
  }

  private async fireOne(target: { id: string; revision: number }): Promise<{ fired: number; more: boolean }> {
    const s = await this.d.store.read(target.id);
    if (!s || s.revision !== target.revision) return { fired: 0, more: false };
    const prepared = await this.prepare(s);
    if (!prepared) return { fired: 0, more: false };
    const batch = this.d.batch ?? 100;
    const result = await this.d.store.fire(target, {
      spec: prepared.spec,
      toleranceMs: this.toleranceMs,
      maxFirings: batch,
      makeTask: (dueAt) => ({
        ...prepared.task,
        ...newTaskTrace(),
        id: newId(),
        runAt: dueAt,
        scheduleId: s.id,
      }),
    });
    if (!result) return { fired: 0, more: false };
    const { tasks, plan } = result;
    if (tasks.length > 0) {
      await this.d.submit.announce(tasks);
      this.d.events.emit('schedule_fired', { scheduleId: s.id, count: tasks.length });
    }
    if (plan.missedStretches > 0 || plan.overlapSkipped) {
      this.d.logger.info(
        {
          scheduleId: s.id,
          missedStretches: plan.missedStretches,
          missedRuns: s.missedRuns,
          overlapSkipped: plan.overlapSkipped,
        },
        'schedule passed over due times (missed while no worker ran, or the previous task still running)',
      );
    }
    const more = plan.next !== null && plan.fire.length >= batch;
    return { fired: tasks.length, more };
  }

  /**
   * The schedule's template as its owner would submit it now, or null after pausing the
   * schedule when that is refused (the owner gone, the type no longer allowed to it, the
   * template no longer valid). Anything else (the database down) is thrown: tried again.
   */
  private async prepare(s: ScheduleRecord): Promise<{ spec: CronSpec; task: NewTask } | null> {
    const owner = await this.d.users.principalOf(s.createdBy);
    if (!owner) return this.pause(s, `its owner (${s.createdBy}) no longer exists`);
    const spec = parseSpec(s);
    if (spec instanceof ValidationError) return this.pause(s, reasonOf(spec));
    try {
      const task = await this.d.submit.prepare(owner, storedTemplate(s.task), {
        prefix: 'task',
        whose: OWNER,
      });
      return { spec, task };
    } catch (err) {
      if (err instanceof ProblemError && (err.status === 403 || err.status === 422))
        return this.pause(s, reasonOf(err));
      throw err;
    }
  }

  private async pause(s: ScheduleRecord, reason: string): Promise<null> {
    if (await this.d.store.pause(s.id, s.revision, reason, this.actor)) {
      this.d.logger.warn(
        { scheduleId: s.id, owner: s.createdBy, reason },
        'paused a schedule that may not fire',
      );
    }
    return null;
  }
}

function parseSpec(s: ScheduleRecord) {
  const parsed = parseCron(s.cron, s.timezone);
  return parsed.ok ? parsed.spec : new ValidationError('The schedule is invalid.', parsed.errors);
}

/** A refusal as a pause reason: its detail, and where each problem is. */
function reasonOf(err: ProblemError): string {
  const detail = err.message.replace(/ Nothing was accepted\.$/, '');
  const where = (err.extra.errors ?? []).map((e) => `${e.path}: ${e.message}`).join('; ');
  return where ? `${detail} ${where}` : detail;
}
