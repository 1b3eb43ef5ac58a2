import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../helpers/cluster';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import { runProcurator } from '../helpers/processes';

/**
 * What Promtail ships (infra/monitoring/promtail/promtail.yml) is what the processes write
 * to stdout and stderr: every line a `migrate`, a `serve` and a `worker` print, through
 * successes, failures, retries, an error answer and their shutdown, must be one JSON object
 * carrying the fields Promtail's pipeline extracts — the labels on every line, the time in
 * the format its timestamp stage parses, and taskId on every line about a task.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const PINO_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

interface Pipeline {
  json: { expressions: Record<string, string> };
  labels: Record<string, null>;
  structured_metadata: Record<string, null>;
  timestamp: { source: string; format: string };
}

describe('log lines, as Promtail reads them', () => {
  let cluster: Cluster;
  let pipeline: Pipeline;
  let lines: { process: string; line: string }[];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const promtail = parseYaml(
      await readFile(path.join(ROOT, 'infra/monitoring/promtail/promtail.yml'), 'utf8'),
    ) as {
      scrape_configs: { pipeline_stages: Record<string, unknown>[] }[];
    };
    pipeline = Object.assign({}, ...promtail.scrape_configs[0]!.pipeline_stages) as Pipeline;

    cluster = await startCluster({
      label: 'loglines',
      workers: 1,
      env: { WORKER_METRICS_PORT: '0', RETRY_BASE_MS: '50', RETRY_MAX_MS: '100' },
    });
    const port = cluster.ports[0]!;
    const submit = async (name: string, body: Record<string, unknown>) => {
      const r = await callApi(port, cluster.token, 'POST', '/v1/tasks', body);
      expect(r.status).toBe(202);
      ids[name] = String(r.body.id);
    };
    await submit('ok', { type: 'demo.echo', payload: { hello: 'logs' } });
    await submit('dead', { type: 'demo.fail', payload: { retryable: false, message: 'no luck' } });
    await submit('retried', { type: 'demo.fail', payload: {}, maxAttempts: 2 });
    expect((await callApi(port, cluster.token, 'POST', '/v1/tasks', { type: 'no.such.type' })).status).toBe(
      422,
    );
    expect((await callApi(port, 'prc_not-a-token', 'GET', '/v1/me')).status).toBe(401);
    await waitForTaskStatus(port, cluster.token, ids.ok!, ['succeeded']);
    await waitForTaskStatus(port, cluster.token, ids.dead!, ['dead']);
    await waitForTaskStatus(port, cluster.token, ids.retried!, ['dead']);
    const migrate = await runProcurator(['migrate'], cluster.env);
    expect(migrate.code).toBe(0);
    // Stopped here, so that their shutdown lines are read too.
    await Promise.all([...cluster.serves, ...cluster.workers].map((p) => p.stop()));
    lines = [
      ...migrate.lines.map((line) => ({ process: 'migrate', line })),
      ...cluster.serves[0]!.lines.map((line) => ({ process: 'serve', line })),
      ...cluster.workers[0]!.lines.map((line) => ({ process: 'worker', line })),
    ].filter((l) => l.line !== '');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const parsed = () => lines.map((l) => ({ ...l, obj: JSON.parse(l.line) as Record<string, unknown> }));

  it('are one JSON object each, from every process', () => {
    expect(new Set(lines.map((l) => l.process))).toEqual(new Set(['migrate', 'serve', 'worker']));
    for (const { process, line } of lines) {
      let obj: unknown;
      expect(() => {
        obj = JSON.parse(line) as unknown;
      }, `${process}: ${line}`).not.toThrow();
      expect(typeof obj === 'object' && obj !== null && !Array.isArray(obj), `${process}: ${line}`).toBe(
        true,
      );
    }
  });

  it("carry the fields that become labels (level, service), with pino's level names", () => {
    expect(Object.keys(pipeline.labels).sort()).toEqual(['level', 'service']);
    for (const { process, obj } of parsed()) {
      for (const label of Object.keys(pipeline.labels)) {
        const field = pipeline.json.expressions[label]!;
        expect(typeof obj[field], `${process} ${label}: ${JSON.stringify(obj)}`).toBe('string');
      }
      expect(PINO_LEVELS, JSON.stringify(obj)).toContain(obj.level);
      expect(obj.service).toBe('procurator');
      expect(typeof obj.msg, JSON.stringify(obj)).toBe('string');
    }
  });

  it('carry the time the timestamp stage reads, in RFC 3339', () => {
    expect(pipeline.timestamp.format).toBe('RFC3339Nano');
    const field = pipeline.json.expressions[pipeline.timestamp.source]!;
    for (const { obj } of parsed()) {
      const t = obj[field];
      expect(t, JSON.stringify(obj)).toMatch(
        /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
      );
      expect(Number.isNaN(Date.parse(String(t)))).toBe(false);
    }
  });

  it('carry taskId on every line about a task, as the structured metadata Promtail attaches', () => {
    expect(Object.keys(pipeline.structured_metadata)).toContain('taskId');
    const field = pipeline.json.expressions.taskId!;
    const all = parsed();
    // A line in a task's context (its type and attempt are bound with its id) has the id.
    const taskLines = all.filter((l) => 'attempt' in l.obj && 'type' in l.obj);
    expect(taskLines.length).toBeGreaterThan(0);
    for (const { process, obj } of taskLines) {
      expect(typeof obj[field], `${process}: ${JSON.stringify(obj)}`).toBe('string');
    }
    for (const { obj } of all.filter((l) => field in l.obj)) {
      expect(obj[field]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
    // The failed attempts were logged, under their tasks' ids: what the dashboard's
    // logs panel finds when given one.
    const withId = new Set(all.map((l) => l.obj[field]).filter((v) => typeof v === 'string'));
    expect(withId).toContain(ids.dead);
    expect(withId).toContain(ids.retried);
  });

  it('carry requestId as a string where the API logs one, and never a token', () => {
    const field = pipeline.json.expressions.requestId!;
    for (const { obj } of parsed().filter((l) => field in l.obj)) expect(typeof obj[field]).toBe('string');
    for (const { line } of lines) {
      expect(line).not.toContain(cluster.token);
      expect(line).not.toMatch(/prc_[0-9A-Za-z]{49}/);
    }
  });
});
