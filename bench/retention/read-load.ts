import { TaskStore } from '../../lib/tasks/task-store';
import { forkChild } from '../load/child-process';
import { benchDatabase, benchTask, seedHistory } from './bench-database';
import type { LoadFigures } from './load-loop';
import { loadWhile, sleep } from './load-loop';

export interface ReadersInput {
  databaseUrl: string;
  kind: 'pages' | 'searches';
  loops: number;
  seconds: number;
}
export type ReadersMessage = { type: 'ready' } | { type: 'done'; figures: LoadFigures };

export interface ReadLoadFigures {
  historyTasks: number;
  /** Submissions with nothing else running, and beside each kind of reader. */
  submitAlone: LoadFigures;
  /** Beside readers of pages: the task list, the DLQ and the log page, newest first. */
  submitWithPages: LoadFigures;
  pages: LoadFigures;
  /** Beside readers of log searches (`q`: a substring anywhere in an event or audit entry). */
  submitWithSearches: LoadFigures;
  searches: LoadFigures;
}

/**
 * What the read side of the API (README "Beyond one PostgreSQL") costs the writes: submissions
 * on the real statement (TaskStore.insertOne, 8 loops) over a history of `historyTasks`
 * succeeded and a tenth as many dead tasks, alone, then beside 4 loops reading the pages a
 * console shows (the task list, the DLQ, the log page), then beside 4 loops of log searches,
 * all on the same database; the readers run in a process of their own (readers-child.ts). The
 * three windows alternate `rounds` times.
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
    const tasks = new TaskStore(db.database, { listTimeoutMs: 5000 });
    const submit = () => tasks.insertOne(benchTask());
    const alone: LoadFigures[] = [];
    const beside = { pages: [] as LoadFigures[][], searches: [] as LoadFigures[][] };
    for (let i = 0; i < rounds; i++) {
      alone.push(await loadWhile(8, submit, sleep(seconds * 1000)));
      for (const kind of ['pages', 'searches'] as const) {
        const readers = await forkChild<ReadersMessage>('bench/retention/readers-child.ts', {
          databaseUrl: db.url,
          kind,
          loops: 4,
          seconds,
        } satisfies ReadersInput);
        try {
          await readers.next('ready', 60_000);
          const submits = await loadWhile(8, submit, sleep(seconds * 1000));
          const { figures } = await readers.next('done', 60_000 + seconds * 1000);
          beside[kind].push([submits, figures]);
        } finally {
          await readers.stop();
        }
      }
    }
    return {
      historyTasks,
      submitAlone: merged(alone),
      submitWithPages: merged(beside.pages.map(([s]) => s!)),
      pages: merged(beside.pages.map(([, q]) => q!)),
      submitWithSearches: merged(beside.searches.map(([s]) => s!)),
      searches: merged(beside.searches.map(([, q]) => q!)),
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
