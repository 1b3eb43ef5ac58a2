import { Cron } from 'croner';
import type { FieldProblem } from '../errors';

/** When a schedule is due: its cron expression read in its time zone (README "Schedules"). */
export interface CronSpec {
  /** The first due time strictly after `after`, or null if there is none. */
  next(after: Date): Date | null;
  /** The last due time strictly before `before`, or null if there is none. */
  previous(before: Date): Date | null;
}

const FIELDS = 'must have 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first';

/**
 * A time zone name the runtime's time zone database knows (`Europe/Berlin`, `UTC`), or a
 * problem. Offsets such as `+01:00` are refused: a fixed offset knows no daylight saving,
 * which is the very thing a time zone is asked for here.
 */
export function timezoneProblem(timezone: string): string | null {
  if (timezone.length === 0 || timezone.length > 64 || /^[+-]/.test(timezone))
    return 'must be an IANA time zone name such as "UTC" or "Europe/Berlin"';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return null;
  } catch {
    return `unknown time zone ${JSON.stringify(timezone)}; use an IANA name such as "UTC" or "Europe/Berlin"`;
  }
}

/**
 * Parses a schedule's cron expression with croner: 5 fields, or 6 with seconds first (croner's
 * nicknames such as `@daily` and 7-field patterns with years are refused: the contract says 5
 * or 6). Daylight saving is croner's (Vixie cron's): a fixed time such as `30 2 * * *` that
 * a spring-forward day skips runs at the first valid time after the gap, and once on a
 * fall-back day; an interval pattern skips the gap and runs through both passes of a repeated
 * hour. An expression that never fires (`0 0 30 2 *`) is refused too.
 */
export function parseCron(
  cron: string,
  timezone: string,
  now: Date = new Date(),
): { ok: true; spec: CronSpec } | { ok: false; errors: FieldProblem[] } {
  const zoneProblem = timezoneProblem(timezone);
  if (zoneProblem) return { ok: false, errors: [{ path: 'timezone', message: zoneProblem }] };
  const fields = cron.trim().split(/\s+/);
  if (cron.length > 200 || (fields.length !== 5 && fields.length !== 6))
    return { ok: false, errors: [{ path: 'cron', message: FIELDS }] };
  let job: Cron;
  try {
    job = new Cron(cron, { paused: true, timezone, mode: '5-or-6-parts' });
  } catch (err) {
    const message = (err as Error).message.replace(/^CronPattern: /, '');
    return { ok: false, errors: [{ path: 'cron', message }] };
  }
  const spec: CronSpec = {
    next: (after) => job.nextRun(after),
    previous: (before) => job.previousRuns(1, before)[0] ?? null,
  };
  if (spec.next(now) === null)
    return { ok: false, errors: [{ path: 'cron', message: 'never comes due (no such date)' }] };
  return { ok: true, spec };
}
