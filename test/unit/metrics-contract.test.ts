import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { RunningServer } from '../../compose/serve';
import { startServer } from '../../compose/serve';
import { testConfig } from '../../lib/config';
import { silentLogger } from '../../lib/logger';
import type { TaskView } from '../../lib/tasks/task';

// The metric names of API.md are a contract dashboards and alerts rely on: this runs `serve`
// as production wires it (embedded: API and worker in one process) and reads /metrics after
// known work — one success, one death, one delayed task and one still running.

let running: RunningServer;
let dataDir: string;
let token = '';

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'procurator-metrics-'));
  const config = testConfig({ SERVER_HOST: '127.0.0.1', SERVER_PORT: '0', DATA_DIR: dataDir });
  let printed = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    running = await startServer(config, silentLogger());
  } finally {
    write.mockRestore();
  }
  token = /PROCURATOR_TOKEN=(prc_\S+)/.exec(printed)?.[1] ?? '';
});
afterAll(async () => {
  await running?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

async function api(method: string, p: string, body?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${running.port}${p}`, {
    method,
    headers: { 'X-API-Token': token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function submit(body: unknown): Promise<TaskView> {
  const res = await api('POST', '/v1/tasks', body);
  expect(res.status).toBe(202);
  return (await res.json()) as TaskView;
}

async function waitFor(id: string, status: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const t = (await (await api('GET', `/v1/tasks/${id}`)).json()) as TaskView;
    if (t.status === status) return;
    await sleep(25);
  }
  throw new Error(`task ${id} never reached ${status}`);
}

/** The value of one sample line, e.g. `name{a="b"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

it('exposes every metric of API.md with the values the work done implies', async () => {
  expect(token).toMatch(/^prc_/);
  const echo = await submit({ type: 'demo.echo', payload: { n: 1 } });
  const fail = await submit({ type: 'demo.fail', payload: { message: 'no', retryable: false } });
  await submit({ type: 'demo.echo', payload: { n: 2 }, delayMs: 600_000 });
  const sleeper = await submit({ type: 'demo.sleep', payload: { ms: 5_000 } });
  await waitFor(echo.id, 'succeeded');
  await waitFor(fail.id, 'dead');
  await waitFor(sleeper.id, 'running');

  const res = await fetch(`http://127.0.0.1:${running.port}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const expected: [string, number][] = [
    ['procurator_tasks_submitted_total{type="demo.echo",queue="default"}', 2],
    ['procurator_tasks_submitted_total{type="demo.sleep",queue="default"}', 1],
    ['procurator_tasks_finished_total{type="demo.echo",queue="default",status="succeeded"}', 1],
    ['procurator_tasks_finished_total{type="demo.fail",queue="default",status="dead"}', 1],
    ['procurator_task_attempts_total{type="demo.echo",outcome="succeeded"}', 1],
    ['procurator_task_attempts_total{type="demo.fail",outcome="failed"}', 1],
    ['procurator_task_duration_seconds_count{type="demo.echo"}', 1],
    ['procurator_task_wait_seconds_count{type="demo.echo"}', 1],
    ['procurator_task_wait_seconds_count{type="demo.sleep"}', 1],
    ['procurator_queue_length{queue="default"}', 0],
    ['procurator_queue_pending{queue="default"}', 1],
    ['procurator_delayed_tasks', 1],
    ['procurator_dlq_size', 1],
    ['procurator_recovered_total', 0],
    ['procurator_worker_inflight', 1],
    ['procurator_http_requests_total{method="POST",route="/v1/tasks",status="202"}', 4],
    ['procurator_http_request_duration_seconds_count{method="POST",route="/v1/tasks"}', 4],
    ['procurator_rate_limited_total', 0],
    ['procurator_dependency_up{dependency="database"}', 1],
    ['procurator_queue_consumers{queue="default"}', 1],
    ['procurator_queue_oldest_age_seconds{queue="default"}', 0],
    ['procurator_late_results_discarded_total', 0],
  ];
  for (const [series, value] of expected)
    expect({ series, value: sample(text, series) }).toEqual({ series, value });
  // Declared with their help, whether or not a value was counted yet.
  for (const name of [
    'procurator_callbacks_total',
    'procurator_flow_limited_total',
    'procurator_pruned_total',
    'procurator_schedules_fired_total',
  ])
    expect(text).toContain(`# TYPE ${name} counter`);
  // No Redis behind the memory queue: no series claims one.
  expect(text).not.toContain('dependency="redis"');
  // The default process metrics are there too.
  expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

  expect((await api('POST', `/v1/tasks/${sleeper.id}/cancel`)).status).toBe(202);
  await waitFor(sleeper.id, 'cancelled');
});
