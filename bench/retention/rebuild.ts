import { Redis } from 'ioredis';
import { sql } from 'drizzle-orm';
import { randomBytes } from 'node:crypto';
import { Lease } from '../../lib/leadership/lease';
import { silentLogger } from '../../lib/logger';
import { redisKeys } from '../../lib/queue/keys';
import { RedisQueue } from '../../lib/queue/redis-queue';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { Reconciler } from '../../worker/reconciler';
import { benchDatabase } from './bench-database';
import { unlinkMatching } from '../peers/redis-prefix';

export interface RebuildFigures {
  tasks: number;
  /** From the first reconciler pass after the flush until every task is queued again. */
  batchedMs: number;
  /** The same repair one statement and one Redis call per task (the reconciler before), on `baselineTasks`. */
  baselineTasks: number;
  baselineMs: number;
}

/**
 * `tasks` queued tasks, then every Redis key of the prefix deleted (FLUSHALL for this prefix
 * only: the server is shared), then the time until the reconciler has queued them all again.
 */
export async function measureRebuild(
  env: { pgAdminUrl: string; redisUrl: string },
  tasks: number,
  baselineTasks: number,
): Promise<RebuildFigures> {
  const db = await benchDatabase(env.pgAdminUrl);
  const prefix = `bench-ret-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(env.redisUrl);
  const queue = new RedisQueue(redis, { prefix, openConnection: () => new Redis(env.redisUrl) });
  try {
    const store = new AttemptStore(db.database);
    const fill = async (n: number) => {
      await db.database.rows(sql`DELETE FROM tasks`);
      await db.database.rows(sql`
        INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by, created_at, updated_at)
        SELECT procurator_uuid_v7(), 'demo.echo', 'default', 'normal', 'queued', '{}'::jsonb, 5, 60000, 'bench',
               now() - interval '1 hour', now() - interval '1 hour'
        FROM generate_series(1, ${n}::int)`);
      await db.database.rows(sql`ANALYZE tasks`);
      await flush(redis, prefix);
    };
    const allQueued = async (n: number) => {
      const len = await redis.xlen(redisKeys(prefix).stream('default', 'normal'));
      return len >= n;
    };

    await fill(tasks);
    const reconciler = new Reconciler({
      queue,
      store,
      lease: new Lease(db.database, { name: 'reconciler', holder: 'bench', ttlMs: 60_000 }),
      logger: silentLogger(),
      intervalMs: 60_000,
      graceMs: 5000,
    });
    const t0 = performance.now();
    while (!(await allQueued(tasks))) await reconciler.tick();
    const batchedMs = performance.now() - t0;

    await fill(baselineTasks);
    const t1 = performance.now();
    await perTaskRepair(store, queue);
    if (!(await allQueued(baselineTasks))) throw new Error('the per-task repair left tasks out');
    const baselineMs = performance.now() - t1;
    return { tasks, batchedMs, baselineTasks, baselineMs };
  } finally {
    await flush(redis, prefix);
    await queue.close();
    redis.disconnect();
    await db.drop();
  }
}

/** The reconciler's repair as it was: per lost task one UPDATE, then one enqueue call. */
async function perTaskRepair(store: AttemptStore, queue: RedisQueue): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const page = await store.activeTasks(after, 1000, 5000);
    if (page.length === 0) return;
    after = page[page.length - 1]!.id;
    const held = await queue.lookup(page.map((t) => ({ taskId: t.id, queue: t.queue })));
    for (const t of page) {
      if ((held.get(t.id) ?? -1) >= t.seq) continue;
      const seq = await store.bumpSeq(t.id, t.seq);
      if (seq === null) continue;
      await queue.enqueue([{ taskId: t.id, seq, queue: t.queue, priority: t.priority, type: t.type }]);
    }
    if (page.length < 1000) return;
  }
}

async function flush(redis: Redis, prefix: string): Promise<void> {
  await unlinkMatching(redis, redisKeys(prefix).pattern);
}
