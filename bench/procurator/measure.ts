import http from 'node:http';
import pg from 'pg';
import { percentile } from '../peers/stats';
import type { ProcuratorStack } from './stack';

const PAYLOAD = { data: 'x'.repeat(180) }; // about 200 bytes as JSON, as the issue asks

async function succeededCount(db: pg.Client, queues: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tasks WHERE status = 'succeeded' AND queue = ANY($1)`,
    [queues],
  );
  return rows[0]?.n ?? 0;
}

async function waitForSucceeded(
  db: pg.Client,
  queues: readonly string[],
  n: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await succeededCount(db, queues)) < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} tasks succeeded within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A task to submit, the `i`th of its run (its queue is set by the caller). */
export type TaskMaker = (i: number) => Record<string, unknown>;

const noOpTask: TaskMaker = () => ({ type: 'demo.echo', payload: PAYLOAD });

/** Submits `total` tasks (no-op demo.echo unless `task` says) as batches of 500 through the API, `parallel` at a time. */
export async function submitBatches(
  stack: ProcuratorStack,
  total: number,
  parallel = 4,
  queue = 'default',
  task: TaskMaker = noOpTask,
): Promise<{ seconds: number; tasksPerSecond: number }> {
  const batches = Math.ceil(total / 500);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let b = next++; b < batches; b = next++) {
        const n = Math.min(500, total - b * 500);
        const tasks = Array.from({ length: n }, (_, i) => ({ ...task(b * 500 + i), queue }));
        const res = await stack.api('POST', '/v1/tasks/batch', { tasks });
        if (res.status !== 202) throw new Error(`batch submit answered ${res.status}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { seconds, tasksPerSecond: total / seconds };
}

/**
 * Draining: `tasks` queued tasks (no-op unless `opts.task` says) spread over `queueCount`
 * queues (named `opts.queue`, else after the worker count), `workers` worker processes. The
 * tasks are submitted into paused queues, the workers started, and the timer runs from the
 * resume to the moment PostgreSQL counts every task `succeeded`.
 */
export async function measureDrain(
  stack: ProcuratorStack,
  tasks: number,
  workers: number,
  queueCount = 1,
  opts: { queue?: string; task?: TaskMaker } = {},
): Promise<{ workers: number; queues: number; tasks: number; seconds: number; tasksPerSecond: number }> {
  const base = opts.queue ?? `drain-${workers}`;
  const queues = Array.from({ length: queueCount }, (_, i) => (queueCount === 1 ? base : `${base}-${i}`));
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    for (const q of queues) await stack.api('POST', `/v1/queues/${q}/pause`);
    await Promise.all(
      queues.map((q, i) => submitBatches(stack, share(tasks, queueCount, i), 4, q, opts.task)),
    );
    await stack.startWorkers(workers);
    await new Promise((r) => setTimeout(r, 1500)); // every worker has read the pause
    const started = performance.now();
    stack.onPhase?.('drain-start');
    await Promise.all(queues.map((q) => stack.api('POST', `/v1/queues/${q}/resume`)));
    await waitForSucceeded(db, queues, tasks, 600_000);
    const seconds = (performance.now() - started) / 1000;
    stack.onPhase?.('drain-end');
    return { workers, queues: queueCount, tasks, seconds, tasksPerSecond: tasks / seconds };
  } finally {
    await stack.stopWorkers();
    await db.end();
  }
}

/** Part `i` of `total` split over `parts` as evenly as whole numbers allow. */
function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

/** POST with node:http on a kept-alive connection: the leanest client, so its own cost stays small. */
export function postJson(
  url: string,
  token: string,
  body: string,
  agent: http.Agent,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'X-API-Token': token,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Idle latency: `n` sequential submits, one worker waiting; for each task the time from
 * sending its HTTP request to its attempt being claimed (tasks.started_at, taken in the claim
 * the executor follows at once). Both clocks are this machine's. A few seconds of warm-up
 * first: the worker learns of a new queue within about two seconds.
 */
export async function measureLatency(
  stack: ProcuratorStack,
  n: number,
): Promise<{
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The medians of the two halves of each latency: from sending the request to the insert's
   * transaction (`created_at`: HTTP, auth, admission, validation), and from there to the
   * claim's (`started_at`: the insert's commit, the 202's enqueue, the worker's read, the
   * claim's start). Each is `now()` of its transaction, the database's clock.
   */
  toInsertP50Ms: number;
  insertToClaimP50Ms: number;
}> {
  await stack.startWorkers(1);
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${stack.url}/v1/tasks`;
  const body = JSON.stringify({ type: 'demo.echo', payload: PAYLOAD, queue: 'latency' });
  try {
    const warmUntil = Date.now() + 3000;
    while (Date.now() < warmUntil) await postJson(url, stack.token, body, agent);
    const sent = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const at = performance.timeOrigin + performance.now();
      const res = await postJson(url, stack.token, body, agent);
      if (res.status !== 202) throw new Error(`submit answered ${res.status}`);
      sent.set((JSON.parse(res.text) as { id: string }).id, at);
      await new Promise((r) => setTimeout(r, 2)); // idle between submits, as a quiet system is
    }
    const deadline = Date.now() + 60_000;
    let rows: { id: string; created: number; started: number }[] = [];
    while (Date.now() < deadline) {
      const found = await db.query<{ id: string; created: number; started: number }>(
        `SELECT id::text, extract(epoch FROM created_at) * 1000 AS created,
                extract(epoch FROM started_at) * 1000 AS started FROM tasks
         WHERE queue = 'latency' AND started_at IS NOT NULL`,
      );
      rows = found.rows.filter((r) => sent.has(r.id));
      if (rows.length >= n) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const latencies = rows.map((r) => Number(r.started) - sent.get(r.id)!);
    return {
      n: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      toInsertP50Ms: percentile(
        rows.map((r) => Number(r.created) - sent.get(r.id)!),
        50,
      ),
      insertToClaimP50Ms: percentile(
        rows.map((r) => Number(r.started) - Number(r.created)),
        50,
      ),
    };
  } finally {
    agent.destroy();
    await stack.stopWorkers();
    await db.end();
  }
}

/**
 * Memory: one worker process runs tasks submitted continuously; its RSS is read when the
 * count of succeeded tasks passes each checkpoint.
 */
export async function measureWorkerMemory(
  stack: ProcuratorStack,
  checkpoints: number[],
): Promise<{ tasks: number; rssMb: number }[]> {
  const [worker] = await stack.startWorkers(1);
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    const total = Math.max(...checkpoints);
    const feeding = submitBatches(stack, total, 2, 'memory');
    const out: { tasks: number; rssMb: number }[] = [];
    for (const c of [...checkpoints].sort((a, b) => a - b)) {
      await waitForSucceeded(db, ['memory'], c, 900_000);
      out.push({ tasks: c, rssMb: await worker!.rssMb() });
    }
    await feeding;
    return out;
  } finally {
    await stack.stopWorkers();
    await db.end();
  }
}
