import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../lib/auth/tokens';
import type { CallbackReceiver } from '../helpers/callback-receiver';
import { startCallbackReceiver } from '../helpers/callback-receiver';
import type { Cluster } from '../helpers/cluster';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Dashboard } from '../helpers/dashboard';
import {
  exposedNames,
  loadDashboard,
  metricNames,
  panelQueries,
  substitute,
  variablePromql,
} from '../helpers/dashboard';
import { freePort } from '../helpers/free-port';
import { workerMetricsPort } from '../helpers/queue-probe';
import { skipWithout } from '../helpers/tools';

/**
 * Debian's Prometheus, run with infra/monitoring/prometheus/prometheus.yml retargeted at a
 * live `serve` and two `worker`s on 127.0.0.1 (the scrape token read from a file, as in the
 * compose stack, and the real rule files), scraping every second. Some tasks run — successes,
 * a dead one, a retried one, a callback, a 404 — then every PromQL query of the Grafana
 * dashboard is asked through Prometheus' HTTP API and must return data, every metric the
 * dashboard and the alert rules name must be one the processes export, and every rule must
 * evaluate without error.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const PROMETHEUS_YML = path.join(ROOT, 'infra/monitoring/prometheus/prometheus.yml');
const RULES = path.join(ROOT, 'infra/monitoring/prometheus/rules');

/** What Grafana would put in: a window of some scrapes, every queue, every type. */
const VARIABLES = { __rate_interval: '1m', __interval: '5s', queue: '.*', type: '.*' };

interface ScrapeConfig {
  job_name: string;
  authorization?: { type?: string; credentials_file?: string };
  static_configs: { targets: string[] }[];
}

/** Polls `probe` until it returns a value (not undefined), for at most `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err instanceof Error ? err.message : JSON.stringify(err);
    }
    await sleep(250);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${last})` : ''}`);
}

describe.skipIf(skipWithout('prometheus'))(
  'the dashboard and the alert rules against a live Prometheus',
  () => {
    let tmp: string;
    let cluster: Cluster;
    let receiver: CallbackReceiver;
    let prometheus: ChildProcess | undefined;
    let promLog = '';
    let promUrl: string;
    let tokenFile: string;
    let token: string;
    let scrapePorts: { api: number; workers: number[] };
    let dashboard: Dashboard;

    const query = async (promql: string) => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (body.status !== 'success') throw new Error(`${promql}: ${body.error ?? res.status}`);
      return body.data!.result;
    };

    beforeAll(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), 'procurator-prometheus-'));
      tokenFile = path.join(tmp, 'metrics-token');
      token = generateToken();
      await writeFile(tokenFile, token);
      receiver = await startCallbackReceiver();
      cluster = await startCluster({
        label: 'prom',
        workers: 2,
        env: {
          WORKER_METRICS_PORT: '0',
          METRICS_TOKEN_FILE: tokenFile,
          OUTBOUND_ALLOW_PRIVATE: 'true',
          RETRY_BASE_MS: '50',
          RETRY_MAX_MS: '100',
        },
      });
      receiver.useJwks(`http://127.0.0.1:${cluster.ports[0]!}/.well-known/jwks.json`);
      scrapePorts = {
        api: cluster.ports[0]!,
        workers: await Promise.all(cluster.workers.map((w) => workerMetricsPort(w))),
      };
      dashboard = await loadDashboard();

      // The deployment's configuration, with the compose host names replaced by this test's
      // processes; the same jobs, token handling and rule files.
      const config = parseYaml(await readFile(PROMETHEUS_YML, 'utf8')) as {
        global: Record<string, string>;
        rule_files: string[];
        alerting?: unknown;
        scrape_configs: ScrapeConfig[];
      };
      config.global.scrape_interval = '1s';
      config.global.scrape_timeout = '1s';
      config.global.evaluation_interval = '1s';
      config.rule_files = config.rule_files.map((f) => path.join(path.dirname(PROMETHEUS_YML), f));
      delete config.alerting;
      const targets: Record<string, string[]> = {
        'procurator-api': [`127.0.0.1:${scrapePorts.api}`],
        'procurator-worker': scrapePorts.workers.map((p) => `127.0.0.1:${p}`),
      };
      config.scrape_configs = config.scrape_configs
        .filter((j) => j.job_name in targets)
        .map((j) => ({
          ...j,
          authorization: { ...j.authorization, credentials_file: tokenFile },
          static_configs: [{ targets: targets[j.job_name]! }],
        }));
      expect(config.scrape_configs).toHaveLength(2);
      const configFile = path.join(tmp, 'prometheus.yml');
      await writeFile(configFile, stringify(config));

      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prometheus = spawn(
        'prometheus',
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${path.join(tmp, 'data')}`,
          '--storage.tsdb.retention.time=1h',
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      for (const s of [prometheus.stdout, prometheus.stderr])
        s?.on('data', (c: Buffer) => (promLog += c.toString()));
      await until('Prometheus ready', 20_000, async () =>
        (await fetch(`${promUrl}/-/ready`)).ok ? true : undefined,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${promLog}`);
      });
    });

    afterAll(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await cluster?.stop();
      await receiver?.close();
      await rm(tmp, { recursive: true, force: true });
    });

    it('scrapes serve and both workers, with the token from the file', async () => {
      const up = await until('all three targets up', 30_000, async () => {
        const res = (await (await fetch(`${promUrl}/api/v1/targets`)).json()) as {
          data: { activeTargets: { health: string; labels: { job: string; instance: string } }[] };
        };
        const t = res.data.activeTargets;
        return t.length === 3 && t.every((x) => x.health === 'up') ? t : undefined;
      });
      expect(up.map((t) => t.labels.job).sort()).toEqual([
        'procurator-api',
        'procurator-worker',
        'procurator-worker',
      ]);
    });

    it('sees the tasks run: successes, a dead one, a retried one, a callback', async () => {
      const submit = async (body: Record<string, unknown>) => {
        const r = await callApi(cluster.ports[0]!, cluster.token, 'POST', '/v1/tasks', body);
        expect(r.status, JSON.stringify(r.body)).toBe(202);
        return String(r.body.id);
      };
      const ids = {
        ok: await Promise.all([1, 2, 3, 4, 5].map((n) => submit({ type: 'demo.echo', payload: { n } }))),
        dead: await submit({ type: 'demo.fail', payload: { retryable: false } }),
        retried: await submit({ type: 'demo.fail', payload: {}, maxAttempts: 2 }),
        callback: await submit({
          type: 'demo.echo',
          payload: { callback: true },
          callbackUrl: `${receiver.hookBase}/prom`,
        }),
      };
      for (const id of [...ids.ok, ids.callback]) {
        await waitForTaskStatus(cluster.ports[0]!, cluster.token, id, ['succeeded']);
      }
      await waitForTaskStatus(cluster.ports[0]!, cluster.token, ids.dead, ['dead']);
      const retried = await waitForTaskStatus(cluster.ports[0]!, cluster.token, ids.retried, ['dead']);
      expect(retried.attempts).toBe(2);
      // An error answer, for the dashboard's errors by route.
      expect(
        (
          await callApi(
            cluster.ports[0]!,
            cluster.token,
            'GET',
            '/v1/tasks/0190a1b2-0000-7000-8000-000000000000',
          )
        ).status,
      ).toBe(404);
      await until('the callback delivered', 20_000, () =>
        Promise.resolve(receiver.received.some((r) => r.label === 'prom' && !r.error) ? true : undefined),
      );
      // Prometheus has scraped the ends and the callback once these show.
      await until('the ends scraped', 20_000, async () => {
        const r = (await query('sum(procurator_tasks_finished_total)')) as { value: [number, string] }[];
        return Number(r[0]?.value[1] ?? 0) >= 8 ? true : undefined;
      });
      await until('the callback scraped', 20_000, async () =>
        (await query('procurator_callbacks_total{outcome="delivered"}')).length > 0 ? true : undefined,
      );
    });

    it('answers every PromQL query of the dashboard with data', async () => {
      const queries = [
        ...panelQueries(dashboard)
          .filter((q) => q.datasource === 'prometheus')
          .map((q) => ({ where: `${q.panel} ${q.refId}`, expr: q.expr })),
        ...dashboard.templating.list
          .filter((v) => v.type === 'query')
          .map((v) => ({ where: `variable $${v.name}`, expr: variablePromql(v) })),
      ];
      expect(queries.length).toBeGreaterThan(20);
      // A series needs two scrapes before rate() sees it, and the queue gauges are read
      // at most every 2 s: asked again until every query answers, within a bound.
      const emptyNow = async () => {
        const empty: string[] = [];
        for (const q of queries) {
          const promql = substitute(q.expr, VARIABLES);
          if ((await query(promql)).length === 0) empty.push(`${q.where}: ${promql}`);
        }
        return empty;
      };
      let empty = await emptyNow();
      for (let i = 0; i < 40 && empty.length > 0; i++) {
        await sleep(500);
        empty = await emptyNow();
      }
      expect(empty).toEqual([]);
    });

    it('names only metrics that serve and the workers export (or up), in the dashboard and the alert rules', async () => {
      const exported = new Set(['up']);
      for (const port of [scrapePorts.api, ...scrapePorts.workers]) {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        expect(res.status).toBe(200);
        for (const n of exposedNames(await res.text())) exported.add(n);
      }
      const exprs = [
        ...panelQueries(dashboard)
          .filter((q) => q.datasource === 'prometheus')
          .map((q) => q.expr),
        ...dashboard.templating.list.filter((v) => v.type === 'query').map(variablePromql),
      ];
      for (const f of (await readdir(RULES)).filter((x) => x.endsWith('.yml'))) {
        const doc = parseYaml(await readFile(path.join(RULES, f), 'utf8')) as {
          groups: { rules: { expr: string }[] }[];
        };
        for (const g of doc.groups) for (const r of g.rules) exprs.push(r.expr);
      }
      const unknown = exprs.flatMap((e) =>
        metricNames(e)
          .filter((n) => !exported.has(n))
          .map((n) => `${n} in ${e}`),
      );
      expect(unknown).toEqual([]);
      // The extraction found names at all: it is not vacuous.
      expect(new Set(exprs.flatMap(metricNames)).size).toBeGreaterThan(15);
    });

    it('loads every alert rule and evaluates each without error', async () => {
      const rules = await until('every rule evaluated', 20_000, async () => {
        const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
        };
        const all = res.data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
      });
      expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError ?? ''}`)).toEqual(
        [],
      );
      expect(rules.length).toBeGreaterThanOrEqual(10);
    });
  },
);
