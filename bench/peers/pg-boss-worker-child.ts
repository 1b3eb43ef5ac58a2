import PgBoss from 'pg-boss';
import { childInput, report, runChild } from '../load/child-side';
import type { PgBossWorkerInput, PgBossWorkerMessage } from './pg-boss';

/**
 * Child of measurePgBoss(): `workers` pg-boss polling loops (one work() call each: pg-boss 10
 * has no teamSize, concurrency is more work() calls) with a no-op batch handler. It reports
 * once every job has been handed to a handler; the parent reads completion from the database,
 * because pg-boss completes a batch after the handler without awaiting it.
 */
runChild(async () => {
  const o = childInput<PgBossWorkerInput>();
  const boss = new PgBoss({
    connectionString: o.url,
    // Each loop holds a connection for its fetch, plus one per completion it left running;
    // pg-boss's default pool of 10 would start queueing them beyond a few loops.
    max: Math.max(10, o.workers * 2 + 2),
    // No maintenance or cron loops: they do nothing useful in a run of seconds.
    supervise: false,
    schedule: false,
    migrate: false,
  });
  boss.on('error', (err) => report({ type: 'error', message: err.message }));
  await boss.start();

  let fetched = 0;
  const ids: string[] = [];
  for (let i = 0; i < o.workers; i++) {
    const index = i;
    ids.push(
      await boss.work(
        o.queue,
        { batchSize: o.batchSize, pollingIntervalSeconds: o.pollingIntervalSeconds, priority: o.priority },
        (jobs) => {
          fetched += jobs.length;
          // A full batch means more are waiting: skip this loop's polling delay (pg-boss's
          // documented notifyWorker), as a busy consumer would.
          if (o.refetchWhenFull && jobs.length === o.batchSize) boss.notifyWorker(ids[index]!);
          if (fetched >= o.expected) report<PgBossWorkerMessage>({ type: 'fetched', fetched });
          return Promise.resolve();
        },
      ),
    );
  }
  return () => boss.stop({ graceful: false, timeout: 2000 });
});
