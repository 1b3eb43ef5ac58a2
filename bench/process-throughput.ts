import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { builtinCatalog } from '../lib/catalog/builtin-catalog';
import { loadConfig } from '../lib/config';
import type { Database } from '../lib/db/client';
import { openPglite, openPostgres } from '../lib/db/client';
import { migratePgliteDatabase, migratePostgres } from '../lib/db/migrate';
import { silentLogger } from '../lib/logger';
import { EventBus } from '../lib/observability/event-bus';
import type { TaskEventMap } from '../lib/observability/task-events';
import { MemoryQueue } from '../lib/queue/memory-queue';
import type { QueueBackend } from '../lib/queue/queue-backend';
import { RedisQueue } from '../lib/queue/redis-queue';
import { SubmitService } from '../lib/tasks/submit-service';
import { TaskStore } from '../lib/tasks/task-store';
import { builtinExecutors } from '../worker/executors';
import { Worker } from '../worker/worker';
import type { OutboundClient } from '../lib/outbound/outbound-client';

/** The benchmark runs no outbound tasks. */
const plainOutbound: OutboundClient = {
  request: () => Promise.reject(new Error('no outbound HTTP in this benchmark')),
};
import { sql } from 'drizzle-orm';

export interface ThroughputResult {
  name: string;
  tasks: number;
  submitSeconds: number;
  submitPerSecond: number;
  processSeconds: number;
  processPerSecond: number;
}

interface Backend {
  database: Database;
  queue: QueueBackend;
  cleanup(): Promise<void>;
}

/** An embedded database and the memory queue: what `npm start` runs. */
export async function embeddedBackend(): Promise<Backend> {
  const database = await openPglite(undefined);
  await migratePgliteDatabase(database);
  const queue = new MemoryQueue();
  return { database, queue, cleanup: () => database.close() };
}

/** A fresh PostgreSQL database and a Redis prefix, removed afterwards. */
export async function productionBackend(pgUrl: string, redisUrl: string): Promise<Backend> {
  const name = `procurator_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  await migratePostgres(url.toString());
  const database = openPostgres(url.toString(), 20, silentLogger());
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const connections: Redis[] = [];
  const open = () => {
    const r = new Redis(redisUrl, { enableAutoPipelining: true });
    connections.push(r);
    return r;
  };
  const queue = new RedisQueue(open(), { prefix, openConnection: open });
  return {
    database,
    queue,
    async cleanup() {
      await queue.close();
      const r = connections[0]!;
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      for (const c of connections) c.disconnect();
      await database.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/**
 * Submits `tasks` demo.echo tasks in batches of 1000 with no worker running, then starts one
 * in-process worker and times how long it takes until every task is `succeeded`.
 */
export async function measureThroughput(
  name: string,
  backend: Backend,
  tasks: number,
): Promise<ThroughputResult> {
  const logger = silentLogger();
  const config = loadConfig({ WORKER_CONCURRENCY: '64', WORKER_BLOCK_MS: '200' });
  const events = new EventBus<TaskEventMap>(logger);
  const catalog = builtinCatalog(config);
  const submit = new SubmitService(
    new TaskStore(backend.database),
    backend.queue,
    catalog,
    { maxAttempts: 5, timeoutMs: 60000 },
    events,
    logger,
  );
  const principal = { id: 'bench', name: 'bench', role: 'admin' as const, rateLimitRps: null, legacy: false };
  const payload = { data: 'x'.repeat(180) };
  const submitStart = performance.now();
  for (let done = 0; done < tasks; done += 1000) {
    const n = Math.min(1000, tasks - done);
    await submit.submitBatch(
      principal,
      Array.from({ length: n }, () => ({ type: 'demo.echo', payload })),
      null,
    );
  }
  const submitSeconds = (performance.now() - submitStart) / 1000;

  const worker = new Worker({
    settings: config,
    database: backend.database,
    queue: backend.queue,
    catalog,
    executors: builtinExecutors({ config, logger, outbound: plainOutbound, feishu: null }),
    events,
    logger,
    workerId: `bench-${name}`,
  });
  let finished = 0;
  events.on('finished', () => finished++);
  const processStart = performance.now();
  await worker.start();
  while (finished < tasks) await new Promise((r) => setTimeout(r, 20));
  const processSeconds = (performance.now() - processStart) / 1000;
  await worker.stop();
  const [row] = await backend.database.rows<{ n: number }>(
    sql`SELECT count(*)::int AS n FROM tasks WHERE status = 'succeeded'`,
  );
  if (row?.n !== tasks) throw new Error(`${name}: expected ${tasks} succeeded, found ${row?.n}`);
  return {
    name,
    tasks,
    submitSeconds,
    submitPerSecond: tasks / submitSeconds,
    processSeconds,
    processPerSecond: tasks / processSeconds,
  };
}
