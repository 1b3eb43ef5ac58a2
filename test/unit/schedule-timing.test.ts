import { describe, expect, it } from 'vitest';
import { parseCron } from '../../lib/schedules/cron-spec';
import type { CronSpec } from '../../lib/schedules/cron-spec';
import { planFirings } from '../../lib/schedules/firing-plan';
import type { FirerLife, PlanInput } from '../../lib/schedules/firing-plan';

// Due times with a fixed clock: croner's daylight-saving behaviour as README "Schedules"
// promises it, and the firing plan's missed-or-late rule, both pure.

function spec(cron: string, timezone = 'UTC'): CronSpec {
  const parsed = parseCron(cron, timezone, new Date('2026-01-01T00:00:00Z'));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
}

/** The due times in [from, to), in UTC. */
function dueBetween(s: CronSpec, from: string, to: string): string[] {
  const out: string[] = [];
  let t = s.next(new Date(new Date(from).getTime() - 1));
  while (t && t < new Date(to)) {
    out.push(t.toISOString());
    t = s.next(t);
  }
  return out;
}

describe('cron expressions and time zones', () => {
  it('takes 5 fields, or 6 with seconds first', () => {
    expect(dueBetween(spec('*/20 * * * *'), '2026-05-01T10:00:00Z', '2026-05-01T11:00:00Z')).toEqual([
      '2026-05-01T10:00:00.000Z',
      '2026-05-01T10:20:00.000Z',
      '2026-05-01T10:40:00.000Z',
    ]);
    expect(dueBetween(spec('*/2 * * * * *'), '2026-05-01T10:00:00Z', '2026-05-01T10:00:06Z')).toEqual([
      '2026-05-01T10:00:00.000Z',
      '2026-05-01T10:00:02.000Z',
      '2026-05-01T10:00:04.000Z',
    ]);
  });

  it.each([
    ['* * * *', 'cron', 'must have 5 fields'],
    ['* * * * * * *', 'cron', 'must have 5 fields'],
    ['@daily', 'cron', 'must have 5 fields'],
    ['61 * * * *', 'cron', 'minute'],
    ['0 0 30 2 *', 'cron', 'never comes due'],
    ['a b c d e', 'cron', ''],
  ])('refuses %j naming the %s', (cron, path, words) => {
    const r = parseCron(cron, 'UTC');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors[0]!.path).toBe(path);
      expect(r.errors[0]!.message).toContain(words);
    }
  });

  it.each([['Mars/Olympus'], ['+01:00'], [''], ['x'.repeat(65)]])('refuses the time zone %j', (tz) => {
    const r = parseCron('0 3 * * *', tz);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.path).toBe('timezone');
  });

  it('reads the expression in its time zone', () => {
    // 03:00 in Berlin is 02:00 UTC in winter, 01:00 UTC in summer.
    expect(
      dueBetween(spec('0 3 * * *', 'Europe/Berlin'), '2026-01-10T00:00:00Z', '2026-01-11T00:00:00Z'),
    ).toEqual(['2026-01-10T02:00:00.000Z']);
    expect(
      dueBetween(spec('0 3 * * *', 'Europe/Berlin'), '2026-07-10T00:00:00Z', '2026-07-11T00:00:00Z'),
    ).toEqual(['2026-07-10T01:00:00.000Z']);
  });

  it('fires a daily 02:30 once on a spring-forward day (at 03:00, when 02:30 does not exist)', () => {
    // America/New_York: 2026-03-08 02:00 EST becomes 03:00 EDT.
    const s = spec('30 2 * * *', 'America/New_York');
    expect(dueBetween(s, '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z')).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT, the first valid time after the gap
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
    // Europe/Berlin: 2026-03-29 02:00 CET becomes 03:00 CEST.
    expect(
      dueBetween(spec('30 2 * * *', 'Europe/Berlin'), '2026-03-29T00:00:00Z', '2026-03-30T00:00:00Z'),
    ).toEqual(['2026-03-29T01:00:00.000Z']);
  });

  it('fires a daily time that occurs twice on a fall-back day once, at its first occurrence', () => {
    // America/New_York: 2026-11-01 02:00 EDT becomes 01:00 EST, so 01:30 happens twice.
    const s = spec('30 1 * * *', 'America/New_York');
    expect(dueBetween(s, '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z')).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; not again at 06:30Z (01:30 EST)
      '2026-11-02T06:30:00.000Z',
    ]);
    // And 02:30 Berlin on 2026-10-25 (03:00 CEST becomes 02:00 CET): once.
    expect(
      dueBetween(spec('30 2 * * *', 'Europe/Berlin'), '2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z'),
    ).toEqual(['2026-10-25T00:30:00.000Z']);
  });

  it('keeps an interval running through both passes of a repeated hour, and skips a gap', () => {
    const s = spec('0,30 * * * *', 'America/New_York');
    // Fall back: 01:00, 01:30 EDT, then 01:00, 01:30 EST — every half hour of real time.
    expect(dueBetween(s, '2026-11-01T05:00:00Z', '2026-11-01T07:01:00Z')).toEqual([
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:00:00.000Z',
      '2026-11-01T06:30:00.000Z',
      '2026-11-01T07:00:00.000Z',
    ]);
    // Spring forward: 01:30 EST is followed by 03:00 EDT.
    expect(dueBetween(s, '2026-03-08T06:30:00Z', '2026-03-08T07:31:00Z')).toEqual([
      '2026-03-08T06:30:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T07:30:00.000Z',
    ]);
  });
});

describe('the firing plan: missed (no worker ran) against late (a worker was busy)', () => {
  const everyMinute = spec('* * * * *');
  const at = (hhmm: string) => new Date(`2026-05-01T${hhmm}:00Z`);
  const ms = (hhmm: string) => at(hhmm).getTime();
  const base = (over: Partial<PlanInput>): PlanInput => ({
    spec: everyMinute,
    nextRunAt: at('10:01'),
    now: at('10:10'),
    lives: [],
    toleranceMs: 5000,
    missedRuns: 'skip',
    overlap: 'allow',
    previousEnded: true,
    maxFirings: 100,
    ...over,
  });
  const times = (d: Date[]) => d.map((t) => t.toISOString().slice(11, 16));
  /** A worker ran until 10:00:30, nothing ran until the current firer started at 10:08. */
  const downtime: FirerLife[] = [
    { startedAt: ms('09:00'), seenAt: ms('10:00') + 30_000 },
    { startedAt: ms('10:08'), seenAt: ms('10:10') },
  ];

  it('late: a firer that lived through the period fires every due time, however late', () => {
    const plan = planFirings(base({ lives: [{ startedAt: ms('09:00'), seenAt: ms('10:10') }] }));
    expect(times(plan.fire)).toEqual([
      '10:01',
      '10:02',
      '10:03',
      '10:04',
      '10:05',
      '10:06',
      '10:07',
      '10:08',
      '10:09',
      '10:10',
    ]);
    expect(plan.missedStretches).toBe(0);
    expect(plan.next).toEqual(at('10:11'));
  });

  it('skip: fires nothing for the due times of the downtime, and what came after it', () => {
    const plan = planFirings(base({ lives: downtime }));
    // 10:08 is the firer's start: covered; 10:01 … 10:07 were missed.
    expect(times(plan.fire)).toEqual(['10:08', '10:09', '10:10']);
    expect(plan.missedStretches).toBe(1);
    expect(plan.next).toEqual(at('10:11'));
  });

  it('runOnce: fires one task (the latest missed due time) for the downtime', () => {
    const plan = planFirings(base({ lives: downtime, missedRuns: 'runOnce' }));
    expect(times(plan.fire)).toEqual(['10:07', '10:08', '10:09', '10:10']);
    expect(plan.missedStretches).toBe(1);
  });

  it('counts due times within the tolerance of a life as seen (a start, a last beat)', () => {
    const lives = [
      { startedAt: ms('09:00'), seenAt: ms('10:01') - 4000 },
      { startedAt: ms('10:02') + 4000, seenAt: ms('10:10') },
    ];
    expect(times(planFirings(base({ lives })).fire)).toHaveLength(10);
  });

  it('crosses a long downtime without walking it (a month of missed seconds)', () => {
    const s = spec('* * * * * *');
    const from = new Date('2026-04-01T00:00:00Z');
    const now = new Date('2026-05-01T00:00:02Z');
    const started = performance.now();
    const plan = planFirings(
      base({
        spec: s,
        nextRunAt: from,
        now,
        missedRuns: 'runOnce',
        lives: [{ startedAt: now.getTime(), seenAt: now.getTime() }],
      }),
    );
    expect(performance.now() - started).toBeLessThan(200);
    // The 5 s before the start count as seen; the last second before that is the one runOnce fires.
    expect(plan.fire.map((d) => d.toISOString())).toEqual([
      '2026-04-30T23:59:56.000Z',
      '2026-04-30T23:59:57.000Z',
      '2026-04-30T23:59:58.000Z',
      '2026-04-30T23:59:59.000Z',
      '2026-05-01T00:00:00.000Z',
      '2026-05-01T00:00:01.000Z',
      '2026-05-01T00:00:02.000Z',
    ]);
    expect(plan.fire[0]!.getTime()).toBeLessThan(now.getTime() - 5000);
  });

  it('a stretch per downtime: two downtimes, two runOnce firings', () => {
    const lives = [
      { startedAt: ms('09:00'), seenAt: ms('10:02') },
      { startedAt: ms('10:05'), seenAt: ms('10:06') },
      { startedAt: ms('10:09'), seenAt: ms('10:10') },
    ];
    const plan = planFirings(base({ lives, missedRuns: 'runOnce' }));
    expect(times(plan.fire)).toEqual([
      '10:01',
      '10:02',
      '10:04',
      '10:05',
      '10:06',
      '10:08',
      '10:09',
      '10:10',
    ]);
    expect(plan.missedStretches).toBe(2);
  });

  it('stops at maxFirings and leaves the rest due', () => {
    const plan = planFirings(
      base({ lives: [{ startedAt: ms('09:00'), seenAt: ms('10:10') }], maxFirings: 3 }),
    );
    expect(times(plan.fire)).toEqual(['10:01', '10:02', '10:03']);
    expect(plan.next).toEqual(at('10:04'));
  });

  it('overlap "skip": one firing at most, none while the previous task runs, and no backlog', () => {
    const lives = [{ startedAt: ms('09:00'), seenAt: ms('10:10') }];
    const one = planFirings(base({ lives, overlap: 'skip' }));
    expect(times(one.fire)).toEqual(['10:01']);
    expect(one.overlapSkipped).toBe(true);
    expect(one.next).toEqual(at('10:11'));
    const none = planFirings(base({ lives, overlap: 'skip', previousEnded: false }));
    expect(none.fire).toEqual([]);
    expect(none.next).toEqual(at('10:11'));
    const onTime = planFirings(base({ lives, overlap: 'skip', nextRunAt: at('10:10') }));
    expect(times(onTime.fire)).toEqual(['10:10']);
    expect(onTime.overlapSkipped).toBe(false);
  });
});
