import { sql } from 'drizzle-orm';
import type { Database } from '../db/client';
import { firstIdAt } from '../ids';

/** One minute of the last hour: tasks that succeeded, attempts that failed. */
export interface ActivityMinute {
  /** The minute's start (ISO-8601). */
  at: string;
  succeeded: number;
  failed: number;
}

const MINUTE_MS = 60_000;

/**
 * What the workers did over the last hour, minute by minute, for the console's overview:
 * `succeeded` and `failed` task events (a failed attempt, retried or not). Counted from the
 * (kind, id) index alone: an event's id is a UUIDv7 made when it was written, whose first 48
 * bits are its Unix milliseconds, so the minute comes from the id and no row is read. The read
 * is bounded by the list time limit, whatever the volume.
 */
export class TaskActivity {
  constructor(
    private readonly database: Database,
    private readonly limits: { listTimeoutMs: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Sixty minutes, oldest first, the current (partial) minute last. */
  async lastHour(): Promise<ActivityMinute[]> {
    const end = Math.floor(this.now() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    const start = end - 60 * MINUTE_MS;
    const rows = await this.database.rowsWithin<{ kind: string; minute: string | number; n: number }>(
      sql`SELECT kind,
            (('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / ${MINUTE_MS})::bigint AS minute,
            count(*)::int AS n
          FROM task_events
          WHERE kind IN ('succeeded', 'failed') AND id >= ${firstIdAt(start)}::uuid AND id < ${firstIdAt(end)}::uuid
          GROUP BY 1, 2`,
      this.limits.listTimeoutMs,
    );
    const minutes: ActivityMinute[] = [];
    for (let t = start; t < end; t += MINUTE_MS) {
      minutes.push({ at: new Date(t).toISOString(), succeeded: 0, failed: 0 });
    }
    for (const r of rows) {
      const m = minutes[Number(r.minute) - start / MINUTE_MS];
      if (!m) continue;
      if (r.kind === 'succeeded') m.succeeded += r.n;
      else m.failed += r.n;
    }
    return minutes;
  }
}
