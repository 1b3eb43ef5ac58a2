import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { measurePartitions } from './partitions';
import { measurePrunerImpact } from './pruner-impact';
import { measureReadLoad } from './read-load';
import { measureRebuild } from './rebuild';
import { benchEnv } from '../procurator/stack';

/**
 * `npm run bench:retention [-- --quick]`: the figures behind the README's "Retention" and
 * reconciler notes, against the local PostgreSQL and Redis (a database and a key prefix of
 * its own, removed afterwards), bounded in count and time:
 * - batched DELETE against dropping day partitions of task_events;
 * - submissions and claims with and without a pruner deleting a big history;
 * - the time to queue 100,000 tasks again after their Redis keys are flushed;
 * - submissions alone and beside the reads of lists, the DLQ and the logs (README "Beyond one PostgreSQL").
 */
const quick = process.argv.includes('--quick');
const env = benchEnv();
const size = quick
  ? {
      days: 6,
      tasksPerDay: 5_000,
      dropDays: 3,
      history: 20_000,
      seconds: 3,
      rebuild: 10_000,
      baseline: 2_000,
    }
  : {
      days: 8,
      tasksPerDay: 25_000,
      dropDays: 3,
      history: 200_000,
      seconds: 10,
      rebuild: 100_000,
      baseline: 20_000,
    };

const log = (line: string) => process.stderr.write(`bench:retention: ${line}\n`);
const f1 = (n: number) => n.toFixed(1);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

log(
  `partitions: ${size.days} days × ${size.tasksPerDay} tasks × 5 events, the oldest ${size.dropDays} days removed`,
);
const parts = await measurePartitions(env, size.days, size.tasksPerDay, size.dropDays);
log(`pruner impact: ${size.history} ended tasks of history, ${size.seconds} s windows`);
const impact = await measurePrunerImpact(env, size.history, size.seconds);
log(`pruner impact again, the backlog throttle off (flat out)`);
const flatOut = await measurePrunerImpact(env, size.history, size.seconds, 3, 0);
log(`rebuild: ${size.rebuild} queued tasks after their Redis keys are flushed`);
const rebuild = await measureRebuild(env, size.rebuild, size.baseline);
log(`read load: submissions with and without 4 readers over ${size.history} tasks of history`);
const reads = await measureReadLoad(env, size.history, size.seconds);

const lines: string[] = [];
const row = (...cells: string[]) => lines.push(`| ${cells.join(' | ')} |`);
row('measure', 'value', 'against', 'ratio');
row('---', '---:', '---:', '---:');
for (const [name, r] of [
  ['batched DELETE', parts.plain],
  ['DROP partition', parts.partitioned],
] as const) {
  row(`${name}: ${r.removedEvents} events removed (ms)`, f1(r.removalMs), '', '');
  row(
    `${name}: event insert p99 while removing (ms)`,
    f1(r.insertRemoving.p99Ms),
    `${f1(r.insertIdle.p99Ms)} idle`,
    ratio(r.insertRemoving.p99Ms, r.insertIdle.p99Ms),
  );
  row(
    `${name}: event inserts/s while removing`,
    f1(r.insertRemoving.perSecond),
    `${f1(r.insertIdle.perSecond)} idle`,
    ratio(r.insertRemoving.perSecond, r.insertIdle.perSecond),
  );
}
row(
  'partitioned vs plain: event insert p99 idle (ms)',
  f1(parts.partitioned.insertIdle.p99Ms),
  f1(parts.plain.insertIdle.p99Ms),
  ratio(parts.partitioned.insertIdle.p99Ms, parts.plain.insertIdle.p99Ms),
);
for (const [name, idle, busy, drifted] of [
  ['submit', impact.submitIdle, impact.submitPruning, impact.submitRatio],
  ['claim', impact.claimIdle, impact.claimPruning, impact.claimRatio],
  ['flat out: submit', flatOut.submitIdle, flatOut.submitPruning, flatOut.submitRatio],
  ['flat out: claim', flatOut.claimIdle, flatOut.claimPruning, flatOut.claimRatio],
] as const) {
  row(
    `${name} p50 while pruning (ms)`,
    f1(busy.p50Ms),
    `${f1(idle.p50Ms)} idle`,
    ratio(busy.p50Ms, idle.p50Ms),
  );
  row(
    `${name} p99 while pruning (ms)`,
    f1(busy.p99Ms),
    `${f1(idle.p99Ms)} idle`,
    ratio(busy.p99Ms, idle.p99Ms),
  );
  row(
    `${name}s/s while pruning (ratio: each pruning window against the idle ones beside it)`,
    f1(busy.perSecond),
    `${f1(idle.perSecond)} idle`,
    `${drifted.toFixed(2)}×`,
  );
}
row(
  'idle windows, later half against earlier half (submissions/s): the drift corrected for',
  '',
  `${flatOut.idleDrift.toFixed(2)}× flat out`,
  `${impact.idleDrift.toFixed(2)}×`,
);
row(
  `pruner over ${impact.historyTasks} tasks / ${impact.historyEvents} events (tasks/s)`,
  f1(impact.prunedPerSecond),
  `${f1(flatOut.prunedPerSecond)} flat out`,
  ratio(impact.prunedPerSecond, flatOut.prunedPerSecond),
);
const batchedRate = rebuild.tasks / (rebuild.batchedMs / 1000);
const baselineRate = rebuild.baselineTasks / (rebuild.baselineMs / 1000);
row(`rebuild of ${rebuild.tasks} tasks after a flush (s)`, f1(rebuild.batchedMs / 1000), '', '');
row(
  'rebuild rate (tasks/s)',
  f1(batchedRate),
  `${f1(baselineRate)} one statement + one call per task (${rebuild.baselineTasks} tasks)`,
  ratio(batchedRate, baselineRate),
);
for (const [name, submits, readers] of [
  ['pages (task list, DLQ, log page)', reads.submitWithPages, reads.pages],
  ['log searches', reads.submitWithSearches, reads.searches],
] as const) {
  row(
    `submissions/s beside 4 readers of ${name}`,
    f1(submits.perSecond),
    `${f1(reads.submitAlone.perSecond)} alone`,
    ratio(submits.perSecond, reads.submitAlone.perSecond),
  );
  row(
    `submission p99 beside them (ms)`,
    f1(submits.p99Ms),
    `${f1(reads.submitAlone.p99Ms)} alone`,
    ratio(submits.p99Ms, reads.submitAlone.p99Ms),
  );
  row(`their reads/s (p50/p99 ms)`, f1(readers.perSecond), `${f1(readers.p50Ms)}/${f1(readers.p99Ms)}`, '');
}
const table = lines.join('\n');
process.stdout.write(`${table}\n`);
const dir = path.join('bench', 'results');
await mkdir(dir, { recursive: true });
const file = path.join(dir, `retention-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify({ quick, size, parts, impact, rebuild, reads }, null, 2));
log(`written to ${file}`);
