import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchEnv } from '../procurator/stack';
import type { RoundFigures, Variant, VariantDatabase } from './notify-cost';
import { VARIANTS, closeVariant, openVariant, runRound } from './notify-cost';
import { median } from '../report/median';

/**
 * `npm run bench:log-tail [-- --quick]`: what the live tail's migration (0011: the `tx` column
 * and its index, the throttled NOTIFY trigger) costs the hottest write path, task ends. Each
 * variant has a database of its own on the local PostgreSQL (dropped afterwards); rounds run
 * in turns (the order rotated each round) so that drift on a shared machine falls on all
 * alike. README "Live tail" quotes the figures.
 */
const quick = process.argv.includes('--quick');
const rounds = quick ? 2 : 10;
const tasks = quick ? 1_000 : 5_000;
const workers = 4;
const loops = 8;
const env = benchEnv();
const log = (line: string) => process.stderr.write(`bench:log-tail: ${line}\n`);

const dbs: VariantDatabase[] = [];
const results: RoundFigures[] = [];
try {
  for (const v of VARIANTS) dbs.push(await openVariant(env.pgAdminUrl, v));
  // One round each first, not counted: caches, plans, the pool's connections.
  for (const d of dbs) await runRound(d, Math.min(tasks, 1_000), workers, loops);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < dbs.length; k++) {
      const d = dbs[(r + k) % dbs.length]!;
      const f = await runRound(d, tasks, workers, loops);
      results.push(f);
      log(
        `round ${r + 1} ${f.variant}: ${f.perSecond.toFixed(0)} ends/s, succeed p50 ${f.succeedP50Ms.toFixed(1)} ms p99 ${f.succeedP99Ms.toFixed(1)} ms, ${f.notifications} notifications`,
      );
    }
  }
} finally {
  for (const d of dbs) await closeVariant(d);
}

const of = (v: Variant) => results.filter((r) => r.variant === v);
// Each round's figure against the same round's `without`: drift on a shared machine cancels.
const ratios = (v: Variant) => of(v).map((r, i) => r.perSecond / of('without')[i]!.perSecond);
const summary = Object.fromEntries(
  VARIANTS.map((v) => [
    v,
    {
      perSecond: median(of(v).map((r) => r.perSecond)),
      ratio: median(ratios(v)),
      ratioMin: Math.min(...ratios(v)),
      ratioMax: Math.max(...ratios(v)),
      p50: median(of(v).map((r) => r.succeedP50Ms)),
      p99: median(of(v).map((r) => r.succeedP99Ms)),
      notifications: median(of(v).map((r) => r.notifications)),
    },
  ]),
) as Record<
  Variant,
  {
    perSecond: number;
    ratio: number;
    ratioMin: number;
    ratioMax: number;
    p50: number;
    p99: number;
    notifications: number;
  }
>;
const lines = [
  `${rounds} rounds of ${tasks} task ends (claim + success), ${workers} workers × ${loops} loops; medians`,
  '',
  '| schema | task ends/s | ratio to `without` (range) | success p50 (ms) | success p99 (ms) | notifications per round |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...VARIANTS.map((v) => {
    const s = summary[v];
    return `| ${v} | ${s.perSecond.toFixed(0)} | ${s.ratio.toFixed(3)}× (${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)}) | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.notifications} |`;
  }),
];
process.stdout.write(`${lines.join('\n')}\n`);
const dir = path.join('bench', 'results');
await mkdir(dir, { recursive: true });
await writeFile(path.join(dir, 'log-tail.json'), JSON.stringify({ rounds: results, summary }, null, 2));
