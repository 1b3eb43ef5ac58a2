import type { MachineReport } from './machine';

/** One line of the result table: our figure, a peer's, and what we aim for. */
export interface Row {
  measure: string;
  ours: number;
  peer: string;
  theirs: number;
  /** Throughput target: ours / theirs at least this. */
  target?: number;
  /** Absolute limit: ours at most this (latency, memory). */
  limit?: number;
  note?: string;
}

const fmt = (n: number) =>
  !Number.isFinite(n) ? '—' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);

function verdict(r: Row): string {
  if (r.target !== undefined) return r.ours / r.theirs >= r.target ? `≥ ${r.target}× ✓` : `≥ ${r.target}× ✗`;
  if (r.limit !== undefined) return r.ours <= r.limit ? `≤ ${fmt(r.limit)} ✓` : `≤ ${fmt(r.limit)} ✗`;
  return '';
}

/** Prints the table in Markdown (it goes into the README as it is). */
export function printTable(rows: readonly Row[], m: MachineReport, seconds: number, quick: boolean): void {
  const lines = [
    `Procurator ${m.versions.procurator}${quick ? ' (--quick)' : ''}: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ` +
      `Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; BullMQ ${m.versions.bullmq}, ` +
      `pg-boss ${m.versions['pg-boss']}, autocannon ${m.versions.autocannon}; ${Math.round(seconds)} s in all.`,
    '',
    '| measure | Procurator | peer | peer figure | ratio | target |',
    '|---|---:|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.measure} | ${fmt(r.ours)} | ${r.peer} | ${fmt(r.theirs)} | ${fmt(r.ours / r.theirs)}× | ${verdict(r)}${
          r.note ? ` (${r.note})` : ''
        } |`,
    ),
  ];
  console.log(`\n${lines.join('\n')}`);
}
