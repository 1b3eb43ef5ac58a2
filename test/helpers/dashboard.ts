import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The Grafana dashboard of infra/monitoring, read as tests need it: its queries, with the
 * dashboard variables put in, and the metric names a PromQL expression reads.
 */

export const DASHBOARD = path.resolve(
  import.meta.dirname,
  '../../infra/monitoring/grafana/dashboards/procurator.json',
);

export interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
export interface Variable {
  name: string;
  type: string;
  datasource?: { type: string; uid: string };
  query?: string | { query: string };
  definition?: string;
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

export async function loadDashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
}

/** One query of a panel, with the data source it goes to. */
export interface PanelQuery {
  panel: string;
  refId: string;
  datasource: string;
  expr: string;
}

export function panelQueries(d: Dashboard): PanelQuery[] {
  return d.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      refId: t.refId,
      datasource: (t.datasource ?? p.datasource)?.type ?? '',
      expr: t.expr,
    })),
  );
}

/** A query variable's query as Grafana holds it, e.g. `label_values(metric, label)`. */
export function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

/** The PromQL inside a query variable: the series of `label_values(series, label)`. */
export function variablePromql(v: Variable): string {
  const q = variableQuery(v).trim();
  const labelValues = /^label_values\((.+),\s*\w+\s*\)$/.exec(q);
  if (labelValues) return labelValues[1]!.trim();
  const queryResult = /^query_result\((.+)\)$/.exec(q);
  return queryResult ? queryResult[1]!.trim() : q;
}

/** Grafana's variable forms `$name`, `${name}`, `${name:fmt}` and `[[name]]`, replaced. */
export function substitute(expr: string, values: Record<string, string>): string {
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (whole, a?: string, b?: string, c?: string) => values[(a ?? b ?? c)!] ?? whole,
  );
}

/** The variable names an expression uses. */
export function variablesIn(expr: string): string[] {
  return [...expr.matchAll(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g)].map(
    (m) => (m[1] ?? m[2] ?? m[3])!,
  );
}

const NOT_METRICS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'inf',
  'nan',
  'Inf',
  'NaN',
]);

/**
 * The metric names a PromQL expression selects. Not a parser, but PromQL keeps names in few
 * places: what remains once strings, label matchers, ranges, grouping clauses and offsets are
 * removed, and words followed by `(` (functions, aggregations) are skipped.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/(?<![\w:])\d[\w.]*/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length).trimStart();
    if (rest.startsWith('(') || NOT_METRICS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** The sample names a /metrics page exposes: histograms as their _bucket, _sum and _count. */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\w+)$/.exec(line);
    if (!m) continue;
    const [, name, type] = m;
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name!}${s}`);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(`${name!}${s}`);
    else names.add(name!);
  }
  return names;
}
