import { LogStore } from '../../lib/logs/log-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { benchDatabase, benchTask, seedHistory } from './bench-database';
import type { LoadFigures } from './load-loop';
import { loadWhile, sleep } from './load-loop';

export interface ReadLoadFigures {
  historyTasks: number;
  /** Submissions with nothing else running, and with the readers on the same database. */
  submitAlone: LoadFigures;
  submitWithReads: LoadFigures;
  reads: LoadFigures;
}

/**
 * What the read side of the API (README "Beyond one PostgreSQL") costs the writes: submissions
 * on the real statement (TaskStore.insertOne, 8 loops) over a history of `historyTasks`
 * succeeded and a tenth as many dead tasks, alone and then beside 4 loops of the reads a
 * console or a dashboard makes — the task list, the DLQ page, the log page and a log search —
 * on the same database. The two windows alternate `rounds` times; the figures are their sums.
 */
export async function measureReadLoad(
  env: { pgAdminUrl: string },
  historyTasks: number,
  seconds: number,
  rounds = 2,
): Promise<ReadLoadFigures> {
  const db = await benchDatabase(env.pgAdminUrl, 20);
  try {
    await seedHistory(db.database, historyTasks);
    await seedHistory(db.database, Math.round(historyTasks / 10), { status: 'dead' });
    const limits = { listTimeoutMs: 5000 };
    const tasks = new TaskStore(db.database, limits);
    const logs = new LogStore(db.database, limits);
    const readers = [
      () => tasks.list({ limit: 100 }),
      () => tasks.list({ status: 'dead', limit: 100 }),
      () => logs.list({ limit: 100 }),
      () => logs.list({ q: 'timeout', limit: 100 }),
    ];
    let r = 0;
    const read = () => readers[r++ % readers.length]!();
    const submit = () => tasks.insertOne(benchTask());
    const alone: LoadFigures[] = [];
    const withReads: LoadFigures[] = [];
    const reads: LoadFigures[] = [];
    for (let i = 0; i < rounds; i++) {
      alone.push(await loadWhile(8, submit, sleep(seconds * 1000)));
      const w = sleep(seconds * 1000);
      const [s, q] = await Promise.all([loadWhile(8, submit, w), loadWhile(4, read, w)]);
      withReads.push(s);
      reads.push(q);
    }
    return {
      historyTasks,
      submitAlone: merged(alone),
      submitWithReads: merged(withReads),
      reads: merged(reads),
    };
  } finally {
    await db.drop();
  }
}

/** Windows of one kind as one: counts and rates summed over equal windows, the worst p50/p99. */
function merged(windows: readonly LoadFigures[]): LoadFigures {
  return {
    count: windows.reduce((n, w) => n + w.count, 0),
    perSecond: windows.reduce((n, w) => n + w.perSecond, 0) / windows.length,
    p50Ms: Math.max(...windows.map((w) => w.p50Ms)),
    p99Ms: Math.max(...windows.map((w) => w.p99Ms)),
  };
}
