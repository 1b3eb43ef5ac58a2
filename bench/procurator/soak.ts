import http from 'node:http';
import pg from 'pg';
import { percentile } from '../peers/stats';
import type { ProcuratorStack } from './stack';
import { postJson, submitBatches } from './measure';

/** What the soak saw each time another `every` tasks had finished. */
export interface SoakCheckpoint {
  finished: number;
  workerRssMb: number;
  /** `pg_database_size` of the stack's database. */
  databaseMb: number;
  /** Rows of `tasks` still there (the pruner removes the ended ones after the retention). */
  taskRows: number;
  /** Single submissions sent beside the batches since the previous checkpoint. */
  probes: number;
  probeP50Ms: number;
  probeP99Ms: number;
  /** Tasks submitted so far and already deleted by the pruner. */
  prunedTasks: number;
}

export interface SoakFigures {
  total: number;
  seconds: number;
  checkpoints: SoakCheckpoint[];
}

/** Tasks submitted but not yet ended, at most: the soak measures a steady flow, not a backlog. */
const MAX_BACKLOG = 20_000;
/** Batch size of the feed. */
const FEED_BATCH = 500;
/** One single submission this often, beside the batches: the latency a client sees meanwhile. */
const PROBE_EVERY_MS = 20;

const LIVE_SQL = `SELECT count(*)::int AS n FROM tasks WHERE status IN ('scheduled','queued','running','retrying')`;

/**
 * The soak (README "Benchmarks"): `total` no-op tasks through `serve` and one worker whose
 * pruner deletes what ended longer than the stack's (short) retention ago, fed in batches of 500
 * at `perSecond` (a rate this machine sustains with the pruner deleting as fast as tasks end;
 * never more than MAX_BACKLOG ahead of the worker), while a probe submits one task at a time.
 * At every `every` finished tasks: the worker's RSS, the database's size, the rows left, and
 * the probe's latency since the checkpoint before.
 */
export async function measureSoak(
  stack: ProcuratorStack,
  total: number,
  every: number,
  perSecond: number,
): Promise<SoakFigures> {
  const [worker] = await stack.startWorkers(1);
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = Date.now() + 30 * 60_000;
  let submitted = 0;
  let finished = 0;
  let done = false;
  const window: number[] = [];
  const checkpoints: SoakCheckpoint[] = [];
  const started = performance.now();
  try {
    const feeding = (async () => {
      let fed = 0;
      while (!done && fed < total) {
        const due = started + (fed / perSecond) * 1000;
        if (submitted - finished > MAX_BACKLOG || performance.now() < due) {
          await sleep(Math.max(5, Math.min(50, due - performance.now())));
          continue;
        }
        const n = Math.min(FEED_BATCH, total - fed);
        await submitBatches(stack, n, 1, 'soak');
        fed += n;
        submitted += n;
      }
    })();
    const probing = (async () => {
      const body = JSON.stringify({ type: 'demo.echo', payload: { n: 1 }, queue: 'soak' });
      while (!done) {
        const t0 = performance.now();
        const res = await postJson(`${stack.url}/v1/tasks`, stack.token, body, agent);
        if (res.status !== 202) throw new Error(`probe submit answered ${res.status}`);
        window.push(performance.now() - t0);
        submitted++;
        await sleep(PROBE_EVERY_MS);
      }
    })();
    let next = every;
    while (finished < total) {
      if (Date.now() > deadline)
        throw new Error(`soak: only ${finished} of ${total} tasks ended in 30 minutes`);
      await sleep(250);
      const { rows } = await db.query<{ n: number }>(LIVE_SQL);
      finished = submitted - rows[0]!.n;
      if (finished >= next) {
        next += every;
        const probes = window.splice(0);
        const taskRows = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks')).rows[0]!.n;
        checkpoints.push({
          finished,
          workerRssMb: await worker!.rssMb(),
          databaseMb: await databaseMb(db),
          taskRows,
          probes: probes.length,
          probeP50Ms: percentile(probes, 50),
          probeP99Ms: percentile(probes, 99),
          prunedTasks: submitted - taskRows,
        });
      }
    }
    done = true;
    await Promise.all([feeding, probing]);
    return { total, seconds: (performance.now() - started) / 1000, checkpoints };
  } finally {
    done = true;
    agent.destroy();
    await stack.stopWorkers();
    await db.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function databaseMb(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ b: string }>('SELECT pg_database_size(current_database())::text AS b');
  return Number(rows[0]!.b) / 2 ** 20;
}
