import type { CronSpec } from './cron-spec';

export type MissedRuns = 'skip' | 'runOnce';
export type Overlap = 'allow' | 'skip';

/** A schedule firer's life, by the database's clock (ms): its first check and the last it was seen. */
export interface FirerLife {
  startedAt: number;
  seenAt: number;
}

export interface PlanInput {
  spec: CronSpec;
  /** The earliest due time not fired yet. */
  nextRunAt: Date;
  /** The database's clock: due times up to it are due. */
  now: Date;
  /** The lives of the firers around that period (the current firer's included). */
  lives: readonly FirerLife[];
  /** A due time this close to a firer's life counts as seen by it (a start, a last beat). */
  toleranceMs: number;
  missedRuns: MissedRuns;
  overlap: Overlap;
  /** Whether the task of the previous firing has ended (true when there is none). */
  previousEnded: boolean;
  /** Firings per plan at most; the rest stays due for the next pass. */
  maxFirings: number;
}

export interface FiringPlan {
  /** The due times to fire now, oldest first. */
  fire: Date[];
  /** Stretches of due times missed while no worker ran (`skip`: none fired; `runOnce`: one each). */
  missedStretches: number;
  /** Due times passed over because the previous firing's task had not ended (`overlap: "skip"`). */
  overlapSkipped: boolean;
  /** The new next due time: the first one this plan neither fires nor skips. */
  next: Date | null;
}

/**
 * Which due times of a schedule to fire (README "Schedules"). A due time is **missed** when
 * no firer was running then — no firer's life, widened by `toleranceMs` at both ends, covers
 * it; every other due time is merely **late** and fires, however late (a busy worker, a
 * firer that took over). Missed due times come in stretches (a downtime); `skip` fires none
 * of a stretch, `runOnce` fires its last one only (as a cron job that missed several runs
 * starts only the most recent). A stretch is crossed by croner's `previous`, not walked, so a
 * month of missed seconds costs no more than one.
 *
 * With `overlap: "skip"`, a due time that finds the previous firing's task unfinished is
 * passed over (not delayed), and so is every due time after the first one fired here.
 */
export function planFirings(p: PlanInput): FiringPlan {
  const now = p.now.getTime();
  const covered = (t: number) =>
    p.lives.some((l) => l.startedAt - p.toleranceMs <= t && t <= l.seenAt + p.toleranceMs);
  /** Where the stretch missed from `t` on ends: the next firer's (widened) start, else past now. */
  const stretchEnd = (t: number) =>
    p.lives.reduce(
      (end, l) => (l.startedAt - p.toleranceMs > t ? Math.min(end, l.startedAt - p.toleranceMs) : end),
      now + 1,
    );
  const fire: Date[] = [];
  let missedStretches = 0;
  let t: Date | null = p.nextRunAt;
  while (t !== null && t.getTime() <= now && fire.length < p.maxFirings) {
    if (covered(t.getTime())) {
      fire.push(t);
      t = p.spec.next(t);
      continue;
    }
    const end = Math.min(stretchEnd(t.getTime()), now + 1);
    // The last due time of the stretch: `t` itself is one before `end`, so there is one.
    const last: Date = p.spec.previous(new Date(end)) ?? t;
    missedStretches++;
    if (p.missedRuns === 'runOnce') fire.push(last);
    t = p.spec.next(last);
  }
  if (p.overlap === 'skip') {
    const dueLeft = t !== null && t.getTime() <= now;
    const overlapSkipped = (!p.previousEnded && fire.length > 0) || fire.length > 1 || dueLeft;
    const kept = p.previousEnded ? fire.slice(0, 1) : [];
    return { fire: kept, missedStretches, overlapSkipped, next: dueLeft ? p.spec.next(p.now) : t };
  }
  return { fire, missedStretches, overlapSkipped: false, next: t };
}
