import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { httpLoad } from './load/http-load';
import { measureDrain, submitBatches } from './procurator/measure';
import { ProcuratorStack, benchEnv } from './procurator/stack';
import { median } from './report/median';

/**
 * `node dist/bench-submit.js --a NAME=path/to/dist/procurator.js --b NAME=path/... [--runs 3]
 * [--seconds 10]`: the submit throughput of two builds of Procurator, measured in turns
 * (a, b, a, b, ...) so that whatever else the machine does falls on both alike; prints each
 * run and the medians. Each run is a fresh database, key prefix and `serve` process of that
 * build, migrated by that build; then the single-submit load of `npm run bench` (autocannon,
 * 50 connections) and 20,000 tasks as batches of 500. No worker runs: only submission is
 * measured. Bounded: runs × (start-up + warm-up + seconds + the batches).
 *
 * With `--drain N [--concurrency C]` each run then also drains N queued no-op tasks with one
 * worker of that build at WORKER_CONCURRENCY C (default 50): "does this change slow the worker?".
 *
 * Made to answer "does this change slow submission?" (README "Tracing": the figure for
 * tracing off against the commit before it).
 */

const env = benchEnv();
const PAYLOAD = JSON.stringify({ type: 'demo.echo', payload: { data: 'x'.repeat(180) } });
const BATCH_TASKS = 20_000;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function build(name: 'a' | 'b'): { label: string; entry: string } {
  const value = arg(name);
  const m = value ? /^([^=]+)=(.+)$/.exec(value) : null;
  if (!m) throw new Error(`--${name} NAME=path/to/dist/procurator.js is required`);
  const entry = path.resolve(m[2]!);
  if (!existsSync(entry)) throw new Error(`${entry} does not exist (build it first)`);
  return { label: m[1]!, entry };
}

interface RunFigures {
  singlePerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time (user + system) of the `serve` process per task it accepted during the single
   * submits, warm-up included: less sensitive than throughput to what else the machine runs.
   */
  singleCpuUs: number;
  batchTasksPerSecond: number;
  /** With --drain: tasks/s of one worker draining them. */
  drainTasksPerSecond?: number;
}

/** User + system CPU of a process so far, in microseconds (Linux /proc). */
async function cpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS;
}
/** sysconf(_SC_CLK_TCK): 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

async function taskCount(stack: ProcuratorStack): Promise<number> {
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks');
    return rows[0]!.n;
  } finally {
    await db.end();
  }
}

const drainTasks = Number(arg('drain') ?? 0);
const drainConcurrency = arg('concurrency') ?? '50';

async function measure(entry: string, seconds: number): Promise<RunFigures> {
  const stack = new ProcuratorStack(env, entry);
  // e.g. BENCH_SERVE_NODE_ARGS=--cpu-prof to profile each build's serve.
  stack.serveNodeArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" to profile the drain's worker.
  stack.workerNodeArgs = [
    '--max-semi-space-size=64',
    ...(process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  await stack.start({ LOG_LEVEL: 'warn', WORKER_CONCURRENCY: drainConcurrency });
  try {
    const pid = stack.serve!.child.pid!;
    const cpuBefore = await cpuUs(pid);
    const single = await httpLoad({
      url: `${stack.url}/v1/tasks`,
      method: 'POST',
      headers: { 'X-API-Token': stack.token, 'Content-Type': 'application/json' },
      body: PAYLOAD,
      connections: 50,
      durationSeconds: seconds,
      warmupSeconds: 2,
    });
    if (single.non2xx > 0 || single.errors > 0)
      throw new Error(`single submit: ${single.non2xx} non-2xx answers, ${single.errors} errors`);
    const singleCpuUs = ((await cpuUs(pid)) - cpuBefore) / (await taskCount(stack));
    const batch = await submitBatches(stack, BATCH_TASKS, 4, 'batch');
    const drain = drainTasks > 0 ? await measureDrain(stack, drainTasks, 1) : undefined;
    return {
      ...(drain ? { drainTasksPerSecond: drain.tasksPerSecond } : {}),
      singlePerSecond: single.requestsPerSecond,
      p50Ms: single.p50Ms,
      p99Ms: single.p99Ms,
      singleCpuUs,
      batchTasksPerSecond: batch.tasksPerSecond,
    };
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const builds = [build('a'), build('b')];
  const runs = Math.min(Math.max(Number(arg('runs') ?? 3), 1), 20);
  const seconds = Math.min(Math.max(Number(arg('seconds') ?? 10), 1), 60);
  const results = new Map<string, RunFigures[]>(builds.map((b) => [b.label, []]));
  for (let r = 1; r <= runs; r++) {
    // Alternate which build goes first, so neither always runs on a machine fresh from a rest.
    const order = r % 2 ? builds : [...builds].reverse();
    for (const b of order) {
      const f = await measure(b.entry, seconds);
      results.get(b.label)!.push(f);
      console.log(
        `run ${r} ${b.label}: single ${Math.round(f.singlePerSecond)} req/s (p50/p99 ${f.p50Ms}/${f.p99Ms} ms, ` +
          `serve CPU ${Math.round(f.singleCpuUs)} µs/task), ` +
          `batch ${Math.round(f.batchTasksPerSecond)} tasks/s` +
          (f.drainTasksPerSecond ? `, drain ${Math.round(f.drainTasksPerSecond)} tasks/s` : ''),
      );
    }
  }
  const [a, b] = builds.map((x) => results.get(x.label)!);
  const single = [median(a!.map((f) => f.singlePerSecond)), median(b!.map((f) => f.singlePerSecond))];
  const batch = [median(a!.map((f) => f.batchTasksPerSecond)), median(b!.map((f) => f.batchTasksPerSecond))];
  console.log(`\nmedians of ${runs} runs each (${builds[0]!.label} / ${builds[1]!.label}):`);
  console.log(
    `  single submit: ${Math.round(single[0]!)} / ${Math.round(single[1]!)} req/s, ratio ${(single[1]! / single[0]!).toFixed(3)}`,
  );
  const cpu = [median(a!.map((f) => f.singleCpuUs)), median(b!.map((f) => f.singleCpuUs))];
  console.log(
    `  serve CPU per single submit: ${Math.round(cpu[0]!)} / ${Math.round(cpu[1]!)} µs, ratio ${(cpu[1]! / cpu[0]!).toFixed(3)}`,
  );
  console.log(
    `  batch submit:  ${Math.round(batch[0]!)} / ${Math.round(batch[1]!)} tasks/s, ratio ${(batch[1]! / batch[0]!).toFixed(3)}`,
  );
  if (drainTasks > 0) {
    const drain = [a!, b!].map((fs) => median(fs.map((f) => f.drainTasksPerSecond ?? NaN)));
    console.log(
      `  drain, 1 worker, concurrency ${drainConcurrency}: ${Math.round(drain[0]!)} / ${Math.round(drain[1]!)} tasks/s, ratio ${(drain[1]! / drain[0]!).toFixed(3)}`,
    );
  }
  console.log(JSON.stringify({ runs, seconds, builds, results: Object.fromEntries(results) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
