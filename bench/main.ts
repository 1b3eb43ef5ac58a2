import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { httpLoad } from './load/http-load';
import type { HttpLoadResult } from './load/http-load';
import { startBareHonoXadd } from './peers/bare-hono-xadd';
import { measureBullmq } from './peers/bullmq';
import { measurePgBoss } from './peers/pg-boss';
import { measureDrain, measureLatency, measureWorkerMemory, submitBatches } from './procurator/measure';
import { measureHttpTargetLatency } from './procurator/http-latency';
import { measureSoak } from './procurator/soak';
import { ProcuratorStack, benchEnv } from './procurator/stack';
import { machineReport } from './report/machine';
import { startRedisCluster } from '../test/helpers/redis-cluster';
import { printTable, type Row } from './report/table';
import { median } from './report/median';

/**
 * `npm run bench [-- --quick] [-- --runs N]`: Procurator against the peers a platform team would pick
 * instead (BullMQ, pg-boss) and against a bare Hono + XADD endpoint (the HTTP ceiling), all in
 * one run on this machine, so that the ratios mean something. Every measured thing runs in a
 * process of its own; every figure is bounded in time and count.
 */

const quick = process.argv.includes('--quick');
// The compared measures run this many times, ours and the peers' in turns, and the table
// shows medians: one run on a shared VM moves by ±10 %.
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : quick ? 1 : 3;
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number of at least 1');
const env = benchEnv();
const size = quick
  ? {
      httpSeconds: 3,
      warmup: 1,
      batch: 10_000,
      drain: 10_000,
      latency: 300,
      memory: [5_000, 50_000],
      peers: 10_000,
      scale: 8_000,
      soak: { total: 50_000, every: 10_000, perSecond: 2_500 },
    }
  : {
      httpSeconds: 10,
      warmup: 2,
      batch: 40_000,
      drain: 50_000,
      latency: 2_000,
      memory: [20_000, 200_000],
      peers: 50_000,
      scale: 30_000,
      soak: { total: 1_000_000, every: 100_000, perSecond: 2_500 },
    };

// Worker processes (ours and the peers') get a larger young generation: a queue worker
// allocates short-lived objects per job, and the default spends a fifth of its time in GC.
const WORKER_NODE_ARGS = ['--max-semi-space-size=64'];
// No-op tasks are all latency, no work: a wide window keeps the batched writes full.
const WORKER_CONCURRENCY = '2000';
// What users run (and BullMQ's worker is given): the drain and the http-target latency at it.
const USERS_CONCURRENCY = '50';
const PAYLOAD = JSON.stringify({ type: 'demo.echo', payload: { data: 'x'.repeat(180) } });

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** A fresh Procurator (its own database and key prefix) for one group of measurements. */
async function withStack<T>(
  run: (stack: ProcuratorStack) => Promise<T>,
  extraEnv: Record<string, string> = {},
): Promise<T> {
  const stack = new ProcuratorStack(env);
  await stack.start({ WORKER_CONCURRENCY, LOG_LEVEL: 'warn', ...extraEnv });
  stack.workerNodeArgs = WORKER_NODE_ARGS;
  try {
    return await run(stack);
  } finally {
    await stack.stop();
  }
}

/** One run of the measures compared with peers: our submits, latencies and drains. */
async function procuratorRound() {
  // Each group starts from an empty database, as each peer does: what one measurement leaves
  // behind (tens of thousands of rows) must not slow the next.
  const submits = await withStack(async (stack) => {
    // The submit measurements' queues stay paused: nothing else runs while they are measured.
    for (const q of ['default', 'batch']) await stack.api('POST', `/v1/queues/${q}/pause`);
    log(`idle latency (${size.latency} sequential submits)`);
    const latency = await measureLatency(stack, size.latency);
    log('HTTP submit (POST /v1/tasks, 50 connections)');
    const http = await httpLoad({
      url: `${stack.url}/v1/tasks`,
      method: 'POST',
      headers: { 'X-API-Token': stack.token, 'Content-Type': 'application/json' },
      body: PAYLOAD,
      connections: 50,
      durationSeconds: size.httpSeconds,
      warmupSeconds: size.warmup,
    });
    log(`batch submit (${size.batch} tasks in batches of 500)`);
    const batch = await submitBatches(stack, size.batch, 4, 'batch');
    return { latency, http, batch };
  });
  log(`idle latency to an http task's target (${size.latency} sequential submits)`);
  const httpTarget = await withStack((stack) => measureHttpTargetLatency(stack, size.latency), {
    OUTBOUND_ALLOW_PRIVATE: 'true',
    WORKER_CONCURRENCY: USERS_CONCURRENCY,
  });
  log(`draining ${size.drain} tasks with 1 worker, concurrency ${WORKER_CONCURRENCY}`);
  const drain1 = await withStack((stack) => measureDrain(stack, size.drain, 1));
  log(`draining ${size.drain} tasks with 1 worker, concurrency ${USERS_CONCURRENCY}`);
  const drain1Users = await withStack((stack) => measureDrain(stack, size.drain, 1), {
    WORKER_CONCURRENCY: USERS_CONCURRENCY,
  });
  log(`draining ${size.drain} tasks with 2 workers, concurrency ${WORKER_CONCURRENCY}`);
  const drain2 = await withStack((stack) => measureDrain(stack, size.drain, 2));
  return { ...submits, httpTarget, drain1, drain1Users, drain2 };
}

/** What is measured once: memory over a long run, and the soak. */
async function procuratorLongRuns() {
  log(`worker memory after ${size.memory.join(' and ')} tasks`);
  const memory = await withStack((stack) => measureWorkerMemory(stack, size.memory));
  log(`soak: ${size.soak.total} tasks at ${size.soak.perSecond}/s, retention 5 s, pruning every second`);
  const soak = await withStack(
    (stack) => measureSoak(stack, size.soak.total, size.soak.every, size.soak.perSecond),
    {
      RETENTION_SUCCEEDED_MS: '5000',
      PRUNE_INTERVAL_MS: '1000',
    },
  );
  return { memory, soak };
}

const SCALE_WORKERS = [1, 2, 4] as const;
const SCALE_QUEUES = 16;

/**
 * Draining tasks spread over 16 queues with 1, 2 and 4 worker processes, on the single Redis
 * and on a local Redis Cluster of three masters and three replicas (started here, stopped
 * after), the two interleaved.
 */
async function scaleFigures() {
  const cluster = await startRedisCluster(3);
  try {
    const single: number[] = [];
    const clustered: number[] = [];
    for (const workers of SCALE_WORKERS) {
      log(`draining ${size.scale} tasks of ${SCALE_QUEUES} queues with ${workers} worker(s), single Redis`);
      single.push(
        (await withStack((s) => measureDrain(s, size.scale, workers, SCALE_QUEUES))).tasksPerSecond,
      );
      log(`… the same on the Redis Cluster`);
      const onCluster = await withStack((s) => measureDrain(s, size.scale, workers, SCALE_QUEUES), {
        REDIS_CLUSTER_NODES: cluster.seeds,
      });
      clustered.push(onCluster.tasksPerSecond);
    }
    return { single, clustered };
  } finally {
    await cluster.stop();
  }
}

async function ceiling(): Promise<HttpLoadResult> {
  log('HTTP ceiling (bare Hono + XADD, 50 connections)');
  const bare = await startBareHonoXadd({ redisUrl: env.redisUrl });
  try {
    return await httpLoad({
      url: bare.url,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: PAYLOAD,
      connections: 50,
      durationSeconds: size.httpSeconds,
      warmupSeconds: size.warmup,
    });
  } finally {
    await bare.stop();
  }
}

/** One run of everything compared, ours first, then the ceiling and the peers. */
async function round(i: number) {
  log(`run ${i + 1} of ${runs}`);
  const ours = await procuratorRound();
  const bare = await ceiling();
  log(`BullMQ (${size.peers} jobs, concurrency 50)`);
  const bullmq = await measureBullmq({
    redisUrl: env.redisUrl,
    jobs: size.peers,
    concurrency: 50,
    latencySamples: quick ? 100 : 500,
    execArgv: WORKER_NODE_ARGS,
  });
  log(`pg-boss (${size.peers} jobs, 2 work() loops of batches of 5,000)`);
  const pgboss = await measurePgBoss({
    pgAdminUrl: env.pgAdminUrl,
    jobs: size.peers,
    execArgv: WORKER_NODE_ARGS,
  });
  // pg-boss 10 has no per-job concurrency: a work() loop fetching 50 at a time is how a user
  // runs at most 50 jobs at once, as BullMQ's concurrency 50 and our WORKER_CONCURRENCY 50 do.
  log(`pg-boss (${size.peers} jobs, 1 work() loop of batches of ${USERS_CONCURRENCY})`);
  const pgbossUsers = await measurePgBoss({
    pgAdminUrl: env.pgAdminUrl,
    jobs: size.peers,
    workers: 1,
    batchSize: Number(USERS_CONCURRENCY),
    execArgv: WORKER_NODE_ARGS,
  });
  return { ours, bare, bullmq, pgboss, pgbossUsers };
}

type Round = Awaited<ReturnType<typeof round>>;

/** A row over every run: each figure's median, and the median and range of the runs' ratios. */
function compared(
  rounds: readonly Round[],
  row: Omit<Row, 'ours' | 'theirs' | 'ratios'>,
  ours: (r: Round) => number,
  theirs: (r: Round) => number,
): Row {
  const ratios = rounds.map((r) => ours(r) / theirs(r));
  return {
    ...row,
    ours: median(rounds.map(ours)),
    theirs: median(rounds.map(theirs)),
    ...(rounds.length > 1
      ? { ratios: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } }
      : {}),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const rounds: Round[] = [];
  for (let i = 0; i < runs; i++) rounds.push(await round(i));
  const ours = await procuratorLongRuns();
  const scale = await scaleFigures();

  const users = USERS_CONCURRENCY;
  const tuned = WORKER_CONCURRENCY;
  const rows: Row[] = [
    compared(
      rounds,
      {
        measure: 'single submit, HTTP (req/s)',
        peer: 'bare Hono + XADD',
        target: 0.5,
        note: `p50/p99 ${median(rounds.map((r) => r.ours.http.p50Ms))}/${median(rounds.map((r) => r.ours.http.p99Ms))} ms vs ${median(rounds.map((r) => r.bare.p50Ms))}/${median(rounds.map((r) => r.bare.p99Ms))} ms`,
      },
      (r) => r.ours.http.requestsPerSecond,
      (r) => r.bare.requestsPerSecond,
    ),
    compared(
      rounds,
      { measure: 'batch submit of 500 (tasks/s)', peer: 'pg-boss batch insert', target: 1 },
      (r) => r.ours.batch.tasksPerSecond,
      (r) => r.pgboss.batchInsertPerSecond,
    ),
    // One worker at each concurrency against each peer, with the targets of README "Benchmarks".
    ...(
      [
        [
          users,
          (r: Round) => r.ours.drain1Users.tasksPerSecond,
          [`pg-boss work, batches of ${users}`, (r: Round) => r.pgbossUsers.processPerSecond],
          1,
          0.55,
        ],
        [
          tuned,
          (r: Round) => r.ours.drain1.tasksPerSecond,
          ['pg-boss work, 2 loops × 5,000', (r: Round) => r.pgboss.processPerSecond],
          1,
          0.8,
        ],
      ] as const
    ).flatMap(([concurrency, ours, [pgbossPeer, pgboss], pgbossTarget, bullmqTarget]) =>
      (
        [
          [pgbossPeer, pgbossTarget, pgboss],
          ['BullMQ worker, concurrency 50', bullmqTarget, (r: Round) => r.bullmq.processPerSecond],
        ] as const
      ).map(([peer, target, theirs]) =>
        compared(
          rounds,
          { measure: `process, 1 worker, concurrency ${concurrency} (tasks/s)`, peer, target },
          ours,
          theirs,
        ),
      ),
    ),
    compared(
      rounds,
      {
        measure: `process, 2 workers, concurrency ${tuned} (tasks/s)`,
        peer: 'Procurator, 1 worker',
        target: 1,
      },
      (r) => r.ours.drain2.tasksPerSecond,
      (r) => r.ours.drain1.tasksPerSecond,
    ),
    compared(
      rounds,
      {
        measure: 'idle latency p50 (ms, submit → start)',
        peer: 'BullMQ add → processor',
        limit: 2,
        note: `p50 ${median(rounds.map((r) => r.ours.latency.toInsertP50Ms)).toFixed(2)} ms to the insert, ${median(rounds.map((r) => r.ours.latency.insertToClaimP50Ms)).toFixed(2)} ms from it to the claim`,
      },
      (r) => r.ours.latency.p50Ms,
      (r) => r.bullmq.idleLatencyP50Ms ?? NaN,
    ),
    compared(
      rounds,
      { measure: 'idle latency p99 (ms)', peer: 'BullMQ', limit: 10 },
      (r) => r.ours.latency.p99Ms,
      (r) => r.bullmq.idleLatencyP99Ms ?? NaN,
    ),
    compared(
      rounds,
      {
        measure: 'idle latency p50 (ms, submit → an `http` task reaching its target)',
        peer: 'BullMQ add → processor',
        maxRatio: 2.5,
      },
      (r) => r.ours.httpTarget.p50Ms,
      (r) => r.bullmq.idleLatencyP50Ms ?? NaN,
    ),
    compared(
      rounds,
      { measure: 'idle latency p99 (ms, submit → `http` target)', peer: 'BullMQ', maxRatio: 2 },
      (r) => r.ours.httpTarget.p99Ms,
      (r) => r.bullmq.idleLatencyP99Ms ?? NaN,
    ),
  ];
  const [rss20k, rss200k] = ours.memory;
  rows.push({
    measure: `worker RSS (MiB) after ${rss200k?.tasks} vs ${rss20k?.tasks} tasks`,
    ours: rss200k?.rssMb ?? NaN,
    peer: `Procurator after ${rss20k?.tasks}`,
    theirs: rss20k?.rssMb ?? NaN,
    limit: (rss20k?.rssMb ?? 0) * 1.2,
  });
  const soak = ours.soak.checkpoints;
  const [soakFirst, soakSecond, soakLast] = [soak[0]!, soak[1] ?? soak[0]!, soak.at(-1)!];
  const soakK = (n: number) => `${Math.round(n / 1000)}k`;
  rows.push(
    {
      measure: `soak, retention 5 s: worker RSS (MiB) after ${soakK(soakLast.finished)} vs ${soakK(soakFirst.finished)} tasks`,
      ours: soakLast.workerRssMb,
      peer: `after ${soakK(soakFirst.finished)}`,
      theirs: soakFirst.workerRssMb,
      limit: soakFirst.workerRssMb * 1.1,
    },
    {
      measure: `soak: database size (MiB) after ${soakK(soakLast.finished)} vs ${soakK(soakSecond.finished)} tasks`,
      ours: soakLast.databaseMb,
      peer: `after ${soakK(soakSecond.finished)}`,
      theirs: soakSecond.databaseMb,
      limit: soakSecond.databaseMb * 1.5,
      note: `${soakLast.taskRows} task rows left, ${soakLast.prunedTasks} pruned`,
    },
    {
      measure: `soak: single-submit p99 (ms) in the last vs the first ${soakK(soakFirst.finished)} tasks, pruner running`,
      ours: soakLast.probeP99Ms,
      peer: 'first window',
      theirs: soakFirst.probeP99Ms,
      limit: soakFirst.probeP99Ms * 1.5,
      note: `worst window ${Math.max(...soak.map((c) => c.probeP99Ms)).toFixed(1)} ms; ${ours.soak.seconds.toFixed(0)} s in all`,
    },
  );
  // On this 2-core machine more worker processes measure contention (they share the cores
  // with Redis, PostgreSQL and the API), not scaling.
  SCALE_WORKERS.forEach((workers, i) => {
    if (i > 0) {
      rows.push({
        measure: `process, ${workers} workers, ${SCALE_QUEUES} queues, single Redis (tasks/s)`,
        ours: scale.single[i]!,
        peer: 'the same, 1 worker',
        theirs: scale.single[0]!,
      });
    }
    rows.push({
      measure: `process, ${workers} worker${workers > 1 ? 's' : ''}, ${SCALE_QUEUES} queues, Redis Cluster (tasks/s)`,
      ours: scale.clustered[i]!,
      peer: 'the same, single Redis',
      theirs: scale.single[i]!,
    });
  });
  const machine = await machineReport(env);
  const seconds = (Date.now() - started) / 1000;
  printTable(rows, machine, seconds, { quick, runs });

  const dir = path.resolve('bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(
    dir,
    `bench-${new Date().toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`,
  );
  const settings = { workerConcurrency: Number(WORKER_CONCURRENCY), workerNodeArgs: WORKER_NODE_ARGS, size };
  await writeFile(
    file,
    JSON.stringify(
      { machine, seconds, quick, runs, settings, rows, rounds, procurator: ours, scale },
      null,
      2,
    ),
  );
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
