import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_TOKEN_FILE, OPS_TOKEN_FILE } from '../../compose/bootstrap-deployment';
import { skipWithout } from '../helpers/tools';

/**
 * infra/monitoring/prometheus and alertmanager, checked by the tools of the versions the
 * compose file runs (Debian's promtool 2.42 and amtool 0.25), and against the compose file
 * they are mounted by.
 */

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const MONITORING = path.join(ROOT, 'infra/monitoring');
const PROMETHEUS_YML = path.join(MONITORING, 'prometheus/prometheus.yml');
const RULES = path.join(MONITORING, 'prometheus/rules');
const ALERTMANAGER_YML = path.join(MONITORING, 'alertmanager/alertmanager.yml');

/** Runs a tool; resolves with its exit code and output instead of throwing. */
async function tool(cmd: string, args: string[], cwd = ROOT) {
  try {
    const r = await run(cmd, args, { cwd, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  authorization?: { type?: string; credentials_file?: string };
  static_configs: { targets: string[] }[];
}
interface PrometheusYml {
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: ScrapeConfig[];
}
interface ComposeService {
  environment?: Record<string, string>;
  volumes?: string[];
  command?: string[];
}

/** Where a service mounts the secrets volume, from the compose file. */
function secretsMount(services: Record<string, ComposeService>, name: string): string {
  const v = services[name]?.volumes?.find((m) => m.startsWith('secrets:'));
  if (!v) throw new Error(`${name} does not mount the secrets volume`);
  return v.split(':')[1]!;
}

let prom: PrometheusYml;
let services: Record<string, ComposeService>;
let ruleFiles: string[];
let testFiles: string[];

beforeAll(async () => {
  prom = parseYaml(await readFile(PROMETHEUS_YML, 'utf8')) as PrometheusYml;
  const compose = parseYaml(await readFile(path.join(ROOT, 'infra/docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, ComposeService> };
  services = compose.services;
  ruleFiles = (await readdir(RULES)).filter((f) => f.endsWith('.yml')).map((f) => path.join(RULES, f));
  testFiles = (await readdir(path.join(RULES, 'tests')))
    .filter((f) => f.endsWith('.test.yml'))
    .map((f) => path.join(RULES, 'tests', f));
});

describe.skipIf(skipWithout('promtool'))('prometheus.yml and the alert rules (promtool)', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'procurator-promtool-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('passes promtool check config --syntax-only (its token file exists only in the container)', async () => {
    const r = await tool('promtool', ['check', 'config', '--syntax-only', PROMETHEUS_YML]);
    expect(r.code, r.out).toBe(0);
  });

  it('passes the full promtool check config, rule files included, once the token file exists', async () => {
    const token = path.join(tmp, METRICS_TOKEN_FILE);
    await writeFile(token, 'prc_placeholder');
    const copy = structuredClone(prom);
    copy.rule_files = copy.rule_files.map((f) => path.join(path.dirname(PROMETHEUS_YML), f));
    for (const job of copy.scrape_configs) if (job.authorization) job.authorization.credentials_file = token;
    const file = path.join(tmp, 'prometheus.yml');
    await writeFile(file, stringify(copy));
    const r = await tool('promtool', ['check', 'config', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: [1-9]\d* rules found/);
  });

  it('passes promtool check rules', async () => {
    expect(ruleFiles.length).toBeGreaterThan(0);
    const r = await tool('promtool', ['check', 'rules', ...ruleFiles]);
    expect(r.code, r.out).toBe(0);
  });

  it('passes promtool test rules', async () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const r = await tool('promtool', ['test', 'rules', ...testFiles]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('SUCCESS');
  });
});

describe('the alert rules and their tests', () => {
  let alerts: string[];
  let tested: { alertname: string; exp_alerts: unknown[] }[];
  beforeAll(async () => {
    alerts = [];
    for (const f of ruleFiles) {
      const doc = parseYaml(await readFile(f, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
      for (const g of doc.groups) for (const r of g.rules) if (r.alert) alerts.push(r.alert);
    }
    tested = [];
    for (const f of testFiles) {
      const doc = parseYaml(await readFile(f, 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
      };
      for (const t of doc.tests)
        for (const a of t.alert_rule_test ?? [])
          tested.push({ alertname: a.alertname, exp_alerts: a.exp_alerts ?? [] });
    }
  });

  it('cover what the deployment must be told about', () => {
    expect(alerts).toEqual(
      expect.arrayContaining([
        'ProcuratorDeadLettersGrowing',
        'ProcuratorTaskWaitingTooLong',
        'ProcuratorQueueWithoutConsumers',
        'ProcuratorWorkerDown',
        'ProcuratorApiErrors',
        'ProcuratorReclaimStorm',
        'ProcuratorCallbacksFailing',
        'ProcuratorDependencyDown',
      ]),
    );
  });

  it('test every alert firing, and quiet in a case that comes close', () => {
    for (const alert of alerts) {
      const cases = tested.filter((t) => t.alertname === alert);
      expect(
        cases.some((c) => c.exp_alerts.length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        cases.some((c) => c.exp_alerts.length === 0),
        `${alert} stays quiet in a test`,
      ).toBe(true);
    }
  });
});

describe('prometheus.yml, against the compose file', () => {
  it('scrapes serve and both workers on the ports they listen on, with the bootstrap scrape token', () => {
    const job = (name: string) => prom.scrape_configs.find((j) => j.job_name === name)!;
    const token = `${secretsMount(services, 'prometheus')}/${METRICS_TOKEN_FILE}`;
    expect(job('procurator-api').static_configs.flatMap((s) => s.targets)).toEqual([
      `serve:${services.serve!.environment!.SERVER_PORT}`,
    ]);
    const workers = Object.keys(services).filter((s) => services[s]!.command?.[0] === 'worker');
    expect(workers).toHaveLength(2);
    expect(job('procurator-worker').static_configs.flatMap((s) => s.targets)).toEqual(
      workers.map((w) => `${w}:${services[w]!.environment!.WORKER_METRICS_PORT}`),
    );
    for (const name of ['procurator-api', 'procurator-worker']) {
      expect(job(name).metrics_path ?? '/metrics').toBe('/metrics');
      expect(job(name).authorization).toEqual({ type: 'Bearer', credentials_file: token });
    }
  });

  it('sends alerts to the compose Alertmanager', () => {
    expect(prom.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual([
      'alertmanager:9093',
    ]);
  });
});

describe('alertmanager.yml', () => {
  let am: {
    route: { receiver: string };
    receivers: {
      name: string;
      webhook_configs?: {
        url: string;
        send_resolved?: boolean;
        http_config: { authorization: { type?: string; credentials_file: string } };
      }[];
    }[];
  };
  beforeAll(async () => {
    am = parseYaml(await readFile(ALERTMANAGER_YML, 'utf8')) as typeof am;
  });

  it.skipIf(skipWithout('amtool'))('passes amtool check-config', async () => {
    const r = await tool('amtool', ['check-config', ALERTMANAGER_YML]);
    expect(r.code, r.out).toBe(0);
  });

  it("routes every alert to serve's POST /v1/integrations/alertmanager with the ops token", () => {
    const receiver = am.receivers.find((r) => r.name === am.route.receiver)!;
    expect(receiver.webhook_configs).toHaveLength(1);
    const hook = receiver.webhook_configs![0]!;
    expect(hook.url).toBe(
      `http://serve:${services.serve!.environment!.SERVER_PORT}/v1/integrations/alertmanager`,
    );
    expect(hook.send_resolved).toBe(true);
    expect(hook.http_config.authorization).toEqual({
      type: 'Bearer',
      credentials_file: `${secretsMount(services, 'alertmanager')}/${OPS_TOKEN_FILE}`,
    });
  });
});
