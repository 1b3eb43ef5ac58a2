import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../lib/auth/tokens';

/**
 * infra/monitoring/loki and promtail. Debian packages neither, so nothing here runs them:
 * the files are parsed and held to what Loki's and Promtail's documentation requires for
 * this setup (single binary on the filesystem; Docker discovery), and to the compose file.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = async (rel: string) => parseYaml(await readFile(path.join(ROOT, rel), 'utf8')) as unknown;

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
}

// The top-level blocks of Loki's configuration reference (Loki refuses unknown keys).
const LOKI_BLOCKS = new Set([
  'target',
  'auth_enabled',
  'ballast_bytes',
  'server',
  'distributor',
  'querier',
  'query_scheduler',
  'frontend',
  'query_range',
  'ruler',
  'ingester_client',
  'ingester',
  'pattern_ingester',
  'index_gateway',
  'bloom_build',
  'bloom_gateway',
  'storage_config',
  'chunk_store_config',
  'schema_config',
  'compactor',
  'limits_config',
  'frontend_worker',
  'table_manager',
  'memberlist',
  'kafka_config',
  'runtime_config',
  'operational_config',
  'tracing',
  'analytics',
  'common',
  'shutdown_delay',
  'metrics_namespace',
]);
// Promtail's configuration file: its top-level blocks, and the pipeline stages it knows.
const PROMTAIL_BLOCKS = new Set([
  'global',
  'server',
  'clients',
  'positions',
  'scrape_configs',
  'limits_config',
  'target_config',
  'options',
  'tracing',
]);
const PROMTAIL_STAGES = new Set([
  'docker',
  'cri',
  'regex',
  'json',
  'logfmt',
  'replace',
  'multiline',
  'geoip',
  'template',
  'pack',
  'decolorize',
  'timestamp',
  'output',
  'labeldrop',
  'labelallow',
  'labels',
  'limit',
  'sampling',
  'static_labels',
  'metrics',
  'tenant',
  'structured_metadata',
  'match',
  'drop',
]);

interface Loki {
  auth_enabled: boolean;
  server: { http_listen_port: number };
  common: {
    path_prefix: string;
    replication_factor: number;
    ring: { kvstore: { store: string } };
    storage: { filesystem: { chunks_directory: string; rules_directory: string } };
  };
  schema_config: {
    configs: {
      from: string;
      store: string;
      object_store: string;
      schema: string;
      index: { prefix: string; period: string };
    }[];
  };
  limits_config: { allow_structured_metadata?: boolean; retention_period?: string };
  compactor: { working_directory: string; retention_enabled?: boolean; delete_request_store?: string };
}
type Stage = Record<string, unknown>;
interface Promtail {
  server: { http_listen_port: number };
  positions: { filename: string };
  clients: { url: string }[];
  scrape_configs: {
    job_name: string;
    docker_sd_configs: { host: string; filters?: { name: string; values: string[] }[] }[];
    relabel_configs: {
      source_labels?: string[];
      regex?: string;
      action?: string;
      target_label?: string;
    }[];
    pipeline_stages: Stage[];
  }[];
}

let loki: Loki;
let promtail: Promtail;
let services: Record<string, ComposeService>;
const mountOf = (service: string, volume: string) =>
  services[service]!.volumes!.find((v) => v.startsWith(`${volume}:`))!.split(':')[1]!;

beforeAll(async () => {
  loki = (await read('infra/monitoring/loki/loki.yml')) as Loki;
  promtail = (await read('infra/monitoring/promtail/promtail.yml')) as Promtail;
  const compose = parseYaml(await readFile(path.join(ROOT, 'infra/docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as { services: Record<string, ComposeService> };
  services = compose.services;
});

describe('loki.yml', () => {
  it('has only blocks Loki knows', () => {
    for (const key of Object.keys(loki)) expect(LOKI_BLOCKS, key).toContain(key);
  });

  it('is one single-tenant process: no auth, an in-memory ring, replication factor 1', () => {
    expect(loki.auth_enabled).toBe(false);
    expect(loki.common.ring.kvstore.store).toBe('inmemory');
    expect(loki.common.replication_factor).toBe(1);
  });

  it('keeps everything under its volume', () => {
    const volume = mountOf('loki', 'loki-data');
    for (const dir of [
      loki.common.path_prefix,
      loki.common.storage.filesystem.chunks_directory,
      loki.common.storage.filesystem.rules_directory,
      loki.compactor.working_directory,
    ]) {
      expect(dir === volume || dir.startsWith(`${volume}/`), dir).toBe(true);
    }
  });

  it('stores structured metadata: tsdb index, schema v13, allowed by the limits', () => {
    expect(loki.schema_config.configs.length).toBeGreaterThan(0);
    const last = loki.schema_config.configs[loki.schema_config.configs.length - 1]!;
    expect(last.from).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(last).toMatchObject({ store: 'tsdb', object_store: 'filesystem', schema: 'v13' });
    // tsdb needs a daily index.
    expect(last.index).toEqual({ prefix: expect.any(String), period: '24h' });
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
  });

  it('applies retention through the compactor, which then needs a delete request store', () => {
    expect(loki.limits_config.retention_period).toMatch(/^\d+[hdw]$/);
    expect(loki.compactor.retention_enabled).toBe(true);
    expect(loki.compactor.delete_request_store).toBe('filesystem');
  });

  it('listens where the compose health check, Promtail and Grafana look for it', async () => {
    const port = loki.server.http_listen_port;
    expect(services.loki!.healthcheck!.test.join(' ')).toContain(`http://127.0.0.1:${port}/ready`);
    expect(promtail.clients.map((c) => c.url)).toEqual([`http://loki:${port}/loki/api/v1/push`]);
    const ds = (await read('infra/monitoring/grafana/provisioning/datasources/datasources.yml')) as {
      datasources: { type: string; url: string }[];
    };
    expect(ds.datasources.find((d) => d.type === 'loki')?.url).toBe(`http://loki:${port}`);
  });
});

describe('promtail.yml', () => {
  const job = () => promtail.scrape_configs[0]!;
  const stage = (name: string) =>
    job().pipeline_stages.find((s) => name in s)?.[name] as Record<string, unknown>;

  it('has only blocks and pipeline stages Promtail knows, one stage per entry', () => {
    for (const key of Object.keys(promtail)) expect(PROMTAIL_BLOCKS, key).toContain(key);
    for (const s of job().pipeline_stages) {
      expect(Object.keys(s)).toHaveLength(1);
      expect(PROMTAIL_STAGES, Object.keys(s)[0]).toContain(Object.keys(s)[0]);
    }
  });

  it('listens where its health check knocks, and keeps its positions in its volume', () => {
    expect(services.promtail!.healthcheck!.test.join(' ')).toContain(
      `/dev/tcp/127.0.0.1/${promtail.server.http_listen_port}`,
    );
    expect(promtail.positions.filename.startsWith(`${mountOf('promtail', 'promtail-data')}/`)).toBe(true);
  });

  it("discovers this compose project's containers through the Docker socket it is given", () => {
    const sd = job().docker_sd_configs;
    expect(sd).toHaveLength(1);
    expect(sd[0]!.host).toBe('unix:///var/run/docker.sock');
    expect(services.promtail!.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock:ro');
    expect(sd[0]!.filters).toEqual([
      { name: 'label', values: ['com.docker.compose.project=${COMPOSE_PROJECT_NAME}'] },
    ]);
    // ${COMPOSE_PROJECT_NAME} is expanded by Promtail itself, from its environment.
    expect(services.promtail!.command).toContain('-config.expand-env=true');
    expect(services.promtail!.environment!.COMPOSE_PROJECT_NAME).toBeDefined();
  });

  it("drops the bootstrap's lines (the first admin's token) before anything is shipped", () => {
    const drop = job().relabel_configs.find((r) => r.action === 'drop');
    expect(drop).toEqual({
      source_labels: ['__meta_docker_container_label_com_docker_compose_service'],
      regex: 'bootstrap',
      action: 'drop',
    });
  });

  it('labels each stream with its compose service', () => {
    expect(job().relabel_configs).toContainEqual({
      source_labels: ['__meta_docker_container_label_com_docker_compose_service'],
      target_label: 'compose_service',
    });
  });

  it('parses the pino fields; level and service become labels, taskId and requestId structured metadata', () => {
    const json = stage('json') as { expressions: Record<string, string> };
    for (const field of ['level', 'service', 'taskId', 'requestId', 'time']) {
      expect(json.expressions[field], field).toBe(field);
    }
    expect(Object.keys(stage('labels')).sort()).toEqual(['level', 'service']);
    expect(Object.keys(stage('structured_metadata')).sort()).toEqual(['requestId', 'taskId']);
    expect(stage('timestamp')).toMatchObject({ source: 'time', format: 'RFC3339Nano' });
  });

  it('masks an API token anywhere in a line, and nothing else', () => {
    const r = stage('replace') as { expression: string; replace: string };
    // Go's RE2 and JavaScript agree on this pattern (a class and a count).
    const re = new RegExp(r.expression, 'g');
    const token = generateToken();
    const line = JSON.stringify({ level: 'info', msg: `oops ${token} logged`, taskId: '0190a1b2' });
    const masked = line.replace(re, r.replace);
    expect(masked).not.toContain(token);
    expect(masked).toContain(`oops ${r.replace} logged`);
    expect(masked).toContain('"taskId":"0190a1b2"');
    const plain = JSON.stringify({ level: 'info', msg: 'prc_ is our prefix', taskId: '0190a1b2' });
    expect(plain.replace(re, r.replace)).toBe(plain);
  });
});
