import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../helpers/dashboard';
import {
  DASHBOARD,
  loadDashboard,
  metricNames,
  panelQueries,
  substitute,
  variablePromql,
  variablesIn,
} from '../helpers/dashboard';
import { skipWithout } from '../helpers/tools';

/**
 * infra/monitoring/grafana: the provisioning files held to the keys Grafana's provisioning
 * documentation requires, the dashboard's structure, and every PromQL expression in it
 * parsed by promtool. (That each one returns data from the real processes is
 * prometheus-live.test.ts's job.)
 */

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const PROVISIONING = path.join(ROOT, 'infra/monitoring/grafana/provisioning');

interface Datasource {
  name: string;
  type: string;
  uid: string;
  access: string;
  url: string;
  isDefault?: boolean;
  jsonData?: Record<string, unknown>;
}
interface Provider {
  name: string;
  type: string;
  orgId?: number;
  options: { path: string };
}
interface ComposeService {
  environment?: Record<string, string>;
  volumes?: string[];
}

// Grafana's own variables, set by Grafana for every query.
const BUILTIN_VARIABLES = new Set(['__rate_interval', '__interval', '__range', '__interval_ms', '__range_s']);
// What Promtail attaches to each line (infra/monitoring/promtail/promtail.yml): labels, and
// the structured metadata LogQL filters on like labels.
const LOKI_LABELS = new Set(['service', 'level', 'compose_service', 'container', 'stream']);
const LOKI_METADATA = new Set(['taskId', 'requestId']);

let datasources: Datasource[];
let providers: Provider[];
let dashboard: Dashboard;
let services: Record<string, ComposeService>;
const mountTarget = (service: string, source: string) =>
  services[service]!.volumes!.find((v) => v.startsWith(`${source}:`))?.split(':')[1];

beforeAll(async () => {
  const ds = parseYaml(await readFile(path.join(PROVISIONING, 'datasources/datasources.yml'), 'utf8')) as {
    apiVersion: number;
    datasources: Datasource[];
  };
  expect(ds.apiVersion).toBe(1);
  datasources = ds.datasources;
  const dash = parseYaml(await readFile(path.join(PROVISIONING, 'dashboards/dashboards.yml'), 'utf8')) as {
    apiVersion: number;
    providers: Provider[];
  };
  expect(dash.apiVersion).toBe(1);
  providers = dash.providers;
  dashboard = await loadDashboard();
  services = (
    parseYaml(await readFile(path.join(ROOT, 'infra/docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, ComposeService>;
    }
  ).services;
});

describe('Grafana provisioning', () => {
  it('is mounted where Grafana reads it', () => {
    expect(mountTarget('grafana', './monitoring/grafana/provisioning')).toBe('/etc/grafana/provisioning');
  });

  it('provisions Prometheus (the default) and Loki, each with the keys provisioning needs', () => {
    for (const d of datasources) {
      for (const key of ['name', 'type', 'uid', 'access', 'url'] as const)
        expect(d[key], `${d.name} ${key}`).toBeTruthy();
      expect(d.access).toBe('proxy');
    }
    expect(datasources.map((d) => [d.type, d.uid, d.url]).sort()).toEqual([
      ['loki', 'loki', 'http://loki:3100'],
      ['prometheus', 'prometheus', 'http://prometheus:9090'],
    ]);
    expect(datasources.filter((d) => d.isDefault).map((d) => d.type)).toEqual(['prometheus']);
  });

  it("tells Grafana Prometheus' scrape interval, from which $__rate_interval is computed", async () => {
    const prom = parseYaml(
      await readFile(path.join(ROOT, 'infra/monitoring/prometheus/prometheus.yml'), 'utf8'),
    ) as {
      global: { scrape_interval: string };
    };
    expect(datasources.find((d) => d.type === 'prometheus')!.jsonData?.timeInterval).toBe(
      prom.global.scrape_interval,
    );
  });

  it('loads the dashboard folder the compose file mounts, and makes procurator.json the home dashboard', () => {
    expect(providers).toHaveLength(1);
    const p = providers[0]!;
    expect(p.name).toBeTruthy();
    expect(p.type).toBe('file');
    expect(mountTarget('grafana', './monitoring/grafana/dashboards')).toBe(p.options.path);
    expect(services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${p.options.path}/${path.basename(DASHBOARD)}`,
    );
  });

  it('takes the admin password from the environment', () => {
    expect(services.grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD).toMatch(
      /^\$\{GRAFANA_ADMIN_PASSWORD:\?/,
    );
  });
});

describe('the procurator.json dashboard', () => {
  const uids = () => new Set(datasources.map((d) => d.uid));

  it('has the keys of a dashboard model: uid, title, schemaVersion, panels', () => {
    expect(dashboard.uid).toBe('procurator');
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.panels.length).toBeGreaterThan(10);
  });

  it('lays out panels with unique ids inside the 24-column grid', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.type, p.title).toBeTruthy();
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      expect(p.gridPos.h, p.title).toBeGreaterThan(0);
    }
  });

  it('queries only the provisioned data sources, each query with its own refId', () => {
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(uids(), p.title).toContain((t.datasource ?? p.datasource)!.uid);
        expect(t.expr.trim(), p.title).not.toBe('');
      }
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      expect(uids(), v.name).toContain(v.datasource!.uid);
    }
  });

  it('defines every variable its queries use: queue, type (from Prometheus) and taskId (a text box)', () => {
    const defined = new Map(dashboard.templating.list.map((v) => [v.name, v.type]));
    expect(defined.get('queue')).toBe('query');
    expect(defined.get('type')).toBe('query');
    expect(defined.get('taskId')).toBe('textbox');
    for (const q of panelQueries(dashboard)) {
      for (const name of variablesIn(q.expr)) {
        expect(defined.has(name) || BUILTIN_VARIABLES.has(name), `${q.panel}: $${name}`).toBe(true);
      }
    }
  });

  it('shows what operators look at', () => {
    const promql = panelQueries(dashboard)
      .filter((q) => q.datasource === 'prometheus')
      .map((q) => q.expr)
      .join('\n');
    for (const needle of [
      /sum by \(type, outcome\) \(rate\(procurator_task_attempts_total/, // throughput by type and outcome
      /procurator_queue_length\{queue=~"\$queue"\}/, // backlog per queue
      /procurator_queue_oldest_age_seconds\{queue=~"\$queue"\}/, // oldest age per queue
      /histogram_quantile\(0\.95, sum by \(le\) \(rate\(procurator_task_wait_seconds_bucket/, // wait
      /histogram_quantile\(0\.95, sum by \(le, type\) \(rate\(procurator_task_duration_seconds_bucket/, // run time
      /procurator_dlq_size/,
      /sum by \(route\) \(rate\(procurator_http_requests_total/, // HTTP rate by route
      /sum by \(route, status\) \(rate\(procurator_http_requests_total\{status=~"\[45\]\.\."\}/, // errors
      /procurator_rate_limited_total/,
      /procurator_recovered_total/,
      /procurator_late_results_discarded_total/,
      /sum by \(outcome\) \(rate\(procurator_callbacks_total/,
    ]) {
      expect(promql).toMatch(needle);
    }
  });

  it('has a logs panel filtered by $taskId, on labels and metadata Promtail sets', () => {
    const logs = panelQueries(dashboard).filter((q) => q.datasource === 'loki');
    expect(logs.some((q) => /\|\s*taskId\s*=~?\s*"\$taskId/.test(q.expr))).toBe(true);
    for (const q of logs) {
      const selector = /^\{([^}]*)\}/.exec(q.expr)![1]!;
      for (const m of selector.matchAll(/(\w+)\s*(?:=~|!=|!~|=)/g))
        expect(LOKI_LABELS, `${q.panel}: ${m[1]}`).toContain(m[1]);
      for (const m of q.expr.slice(selector.length + 2).matchAll(/\|\s*(\w+)\s*(?:=~|!=|!~|=)/g)) {
        expect(LOKI_METADATA.has(m[1]!) || LOKI_LABELS.has(m[1]!), `${q.panel}: ${m[1]}`).toBe(true);
      }
    }
  });

  it('names metrics in a shape PromQL accepts (each a procurator_, process_, nodejs_ metric or up)', () => {
    const exprs = [
      ...panelQueries(dashboard)
        .filter((q) => q.datasource === 'prometheus')
        .map((q) => q.expr),
      ...dashboard.templating.list.filter((v) => v.type === 'query').map(variablePromql),
    ];
    for (const e of exprs) {
      const names = metricNames(e);
      expect(names.length, e).toBeGreaterThan(0);
      for (const n of names) expect(n, e).toMatch(/^(procurator_|process_|nodejs_|up$)/);
    }
  });
});

describe.skipIf(skipWithout('promtool'))('the dashboard PromQL, parsed by promtool', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'procurator-dashboard-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('passes promtool check rules as recording rules, variables put in as Grafana would', async () => {
    const values = { __rate_interval: '1m', __interval: '15s', queue: '.*', type: '.*' };
    const queries = panelQueries(dashboard).filter((q) => q.datasource === 'prometheus');
    const rules = queries.map((q, i) => ({
      record: `dashboard:query_${i}`,
      expr: substitute(q.expr, values),
    }));
    const file = path.join(tmp, 'dashboard-queries.yml');
    await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const r = await run('promtool', ['check', 'rules', file], { timeout: 60_000 }).then(
      (x) => ({ code: 0, out: x.stdout + x.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      }),
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});
