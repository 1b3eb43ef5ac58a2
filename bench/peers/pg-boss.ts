import { randomBytes } from 'node:crypto';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { ChildHandle } from '../load/child-process';
import { forkChild } from '../load/child-process';

export interface PgBossOptions {
  /** A PostgreSQL URL allowed to CREATE and DROP DATABASE; a fresh database is used. */
  pgAdminUrl: string;
  jobs: number;
  /** Jobs per `insert()` call. */
  insertBatchSize?: number;
  /** Parallel work() loops in the worker process. */
  workers?: number;
  /** `batchSize` of each work() loop. */
  batchSize?: number;
  /** pg-boss 10's minimum is 0.5 s. */
  pollingIntervalSeconds?: number;
  /** Refetch at once after a full batch (notifyWorker) instead of waiting out the interval. */
  refetchWhenFull?: boolean;
  /** pg-boss's fetch option: `false` drops `priority desc` from the fetch's ORDER BY. */
  priority?: boolean;
  /** Node flags of the worker process (the same V8 settings Procurator's worker gets). */
  execArgv?: string[];
}

export interface PgBossResult {
  jobs: number;
  batchInsertPerSecond: number;
  processPerSecond: number;
  settings: Required<Omit<PgBossOptions, 'pgAdminUrl' | 'jobs' | 'execArgv'>>;
}

export interface PgBossWorkerInput {
  url: string;
  queue: string;
  workers: number;
  batchSize: number;
  pollingIntervalSeconds: number;
  refetchWhenFull: boolean;
  priority: boolean;
  expected: number;
}

/** What pg-boss-worker-child.ts reports. */
export type PgBossWorkerMessage = { type: 'fetched'; fetched: number };

/**
 * pg-boss 10, the PostgreSQL peer, in a database of its own (created, then dropped).
 *
 * - batch insert: `insert()` of `jobs` jobs (~200 bytes of data) in batches from this process;
 *   timer from the first call to the last resolved.
 * - process: no-op work() loops in a child process; timer on PostgreSQL's clock, from the first
 *   fetch (`min(started_on)`, its transaction's start) to the first poll whose snapshot holds no
 *   active job (`statement_timestamp()`, within ~10 ms after the last completion's commit). The
 *   database is polled only once the child has handed every job to a handler.
 */
export async function measurePgBoss(options: PgBossOptions): Promise<PgBossResult> {
  const settings = {
    insertBatchSize: options.insertBatchSize ?? 1000,
    workers: options.workers ?? 2,
    batchSize: options.batchSize ?? 5000,
    pollingIntervalSeconds: options.pollingIntervalSeconds ?? 0.5,
    refetchWhenFull: options.refetchWhenFull ?? true,
    priority: options.priority ?? false,
  };
  const { pgAdminUrl, jobs } = options;
  if (jobs < 1) throw new Error('measurePgBoss: jobs must be at least 1');
  const database = `pgboss_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(pgAdminUrl);
  url.pathname = `/${database}`;
  const queue = 'bench';
  const boss = new PgBoss({ connectionString: url.toString(), supervise: false, schedule: false });
  const db = new pg.Client({ connectionString: url.toString() });
  let child: ChildHandle<PgBossWorkerMessage> | null = null;
  try {
    boss.on('error', () => undefined); // a failure surfaces through the awaited calls below
    await boss.start();
    await boss.createQueue(queue);
    await db.connect();
    const data = { payload: 'x'.repeat(180) };

    const insertStart = performance.now();
    for (let done = 0; done < jobs; done += settings.insertBatchSize) {
      const n = Math.min(settings.insertBatchSize, jobs - done);
      await boss.insert(Array.from({ length: n }, () => ({ name: queue, data })));
    }
    const insertSeconds = (performance.now() - insertStart) / 1000;
    await boss.stop({ graceful: false, timeout: 1000 });

    const input: PgBossWorkerInput = { url: url.toString(), queue, ...settings, expected: jobs };
    child = await forkChild<PgBossWorkerMessage>(
      'bench/peers/pg-boss-worker-child.ts',
      input,
      options.execArgv,
    );
    await child.next('fetched', 30_000 + jobs * 2);
    // Every job is now in a handler or done; pg-boss completes each batch after its handler
    // without awaiting it, so the end is when no job is left active, seen by polling (only this
    // tail is polled, every 10 ms). completed_on cannot serve: now() is the completing
    // transaction's start, which hides how long a large batch's UPDATE takes.
    const deadline = Date.now() + 60_000;
    let endEpoch: number;
    for (;;) {
      const { rows } = await db.query<{ active: number; at: number }>(
        `SELECT count(*)::int AS active, extract(epoch FROM statement_timestamp())::float8 AS at
           FROM pgboss.job WHERE name = $1 AND state = 'active'`,
        [queue],
      );
      if (rows[0]!.active === 0) {
        endEpoch = rows[0]!.at;
        break;
      }
      if (Date.now() > deadline) throw new Error(`pg-boss: ${rows[0]!.active} jobs still active after 60 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const { rows } = await db.query<{ completed: number; start: number }>(
      `SELECT count(*) FILTER (WHERE state = 'completed')::int AS completed,
              extract(epoch FROM min(started_on))::float8 AS start
         FROM pgboss.job WHERE name = $1`,
      [queue],
    );
    const { completed, start } = rows[0]!;
    if (completed !== jobs) throw new Error(`pg-boss: ${completed}/${jobs} jobs completed`);
    return {
      jobs,
      batchInsertPerSecond: jobs / insertSeconds,
      processPerSecond: jobs / (endEpoch - start),
      settings,
    };
  } finally {
    // Cleanup failures are printed, not thrown: they must not hide the measurement's own error.
    await child?.stop();
    await boss.stop({ graceful: false, timeout: 1000 }).catch(() => undefined);
    await db.end().catch(() => undefined);
    await admin
      .query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
      .catch((err: unknown) => console.error(`pg-boss: dropping ${database}:`, err));
    await admin.end().catch(() => undefined);
  }
}
