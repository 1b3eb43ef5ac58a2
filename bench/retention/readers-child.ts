import { openPostgres } from '../../lib/db/client';
import { silentLogger } from '../../lib/logger';
import { LogStore } from '../../lib/logs/log-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { childInput, report, runChild } from '../load/child-side';
import { loadWhile, sleep } from './load-loop';
import type { ReadersInput, ReadersMessage } from './read-load';

/**
 * The readers of read-load.ts in a process of their own, as the API serving them would be:
 * parsing their pages does not slow the submissions measured beside them. `pages` reads what a
 * console shows (the task list, the DLQ, the log page, in turn); `searches` searches the logs.
 */
runChild(async () => {
  const { databaseUrl, kind, loops, seconds } = childInput<ReadersInput>();
  const database = openPostgres(databaseUrl, loops + 1, silentLogger());
  const limits = { listTimeoutMs: 30_000 };
  const tasks = new TaskStore(database, limits);
  const logs = new LogStore(database, limits);
  const pages = [
    () => tasks.list({ limit: 100 }),
    () => tasks.list({ status: 'dead', limit: 100 }),
    () => logs.list({ limit: 100 }),
  ];
  let n = 0;
  const read =
    kind === 'pages' ? () => pages[n++ % pages.length]!() : () => logs.list({ q: 'timeout', limit: 100 });
  await read(); // connected and planned before the window
  report<ReadersMessage>({ type: 'ready' });
  const figures = await loadWhile(loops, read, sleep(seconds * 1000));
  report<ReadersMessage>({ type: 'done', figures });
  return () => database.close();
});
