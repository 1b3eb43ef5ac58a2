import type { MachineReport } from './machine';

/** One line of the result table: our figure, a peer's, and what we aim for. */
export interface Row {
  measure: string;
  ours: number;
  peer: string;
  theirs: number;
  /** Throughput target: ours / theirs at least this. */
  target?: number;
  /** Latency against a peer's: ours / theirs at most this. */
  maxRatio?: number;
  /** Absolute limit: ours at most this (latency, memory). */
  limit?: number;
  note?: string;
  /**
   * Over several runs: the median of each run's ours/theirs (ours and theirs are then each
   * figure's median), and the lowest and highest of those ratios.
   */
  ratios?: { median: number; min: number; max: number };
}

const ratioOf = (r: Row) => r.ratios?.median ?? r.ours / r.theirs;

const fmt = (n: number) =>
  !Number.isFinite(n) ? '—' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);

function verdict(r: Row): string {
  if (r.target !== undefined) return ratioOf(r) >= r.target ? `≥ ${r.target}× ✓` : `≥ ${r.target}× ✗`;
  if (r.maxRatio !== undefined) return ratioOf(r) <= r.maxRatio ? `≤ ${r.maxRatio}× ✓` : `≤ ${r.maxRatio}× ✗`;
  if (r.limit !== undefined) return r.ours <= r.limit ? `≤ ${fmt(r.limit)} ✓` : `≤ ${fmt(r.limit)} ✗`;
  return '';
}

/** Prints the table in Markdown (it goes into the README as it is). */
export function printTable(
  rows: readonly Row[],
  m: MachineReport,
  seconds: number,
  o: { quick: boolean; runs: number },
): void {
  const lines = [
    `Procurator ${m.versions.procurator}${o.quick ? ' (--quick)' : ''}, ${o.runs} interleaved run${o.runs > 1 ? 's' : ''}: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ` +
      `Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; BullMQ ${m.versions.bullmq}, ` +
      `pg-boss ${m.versions['pg-boss']}, autocannon ${m.versions.autocannon}; ${Math.round(seconds)} s in all.`,
    '',
    '| measure | Procurator | peer | peer figure | ratio | target |',
    '|---|---:|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.measure} | ${fmt(r.ours)} | ${r.peer} | ${fmt(r.theirs)} | ${fmt(ratioOf(r))}×${
          r.ratios ? ` (${fmt(r.ratios.min)}–${fmt(r.ratios.max)})` : ''
        } | ${verdict(r)}${r.note ? ` (${r.note})` : ''} |`,
    ),
  ];
  console.log(`\n${lines.join('\n')}`);
}
