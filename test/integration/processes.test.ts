import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { callApi, startCluster, waitForTaskStatus } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { PG_ADMIN_URL, pgUrlFor } from '../helpers/pg-urls';
import { listeningPort, runProcurator, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';

describe('separate serve and worker processes on Redis + PostgreSQL', () => {
  let cluster: Cluster;
  let serve: Proc;
  let worker: Proc;
  let port: number;
  let token: string;

  beforeAll(async () => {
    cluster = await startCluster({
      label: 'proc',
      workers: 1,
      adminName: 'ops-team',
      env: { WORKER_METRICS_PORT: '0', SHUTDOWN_GRACE_MS: '8000' },
    });
    serve = cluster.serves[0]!;
    worker = cluster.workers[0]!;
    port = cluster.ports[0]!;
    token = cluster.token;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('runs a submitted task to succeeded with its result', async () => {
    const res = await callApi(port, token, 'POST', '/v1/tasks', { type: 'demo.echo', payload: { n: 42 } });
    expect(res.status).toBe(202);
    const done = await waitForTaskStatus(port, token, String(res.body.id), ['succeeded']);
    expect(done.result).toEqual({ n: 42 });
    const info = await callApi(port, token, 'GET', '/v1/system/info');
    expect(info.body).toMatchObject({ queueBackend: 'redis', database: 'postgres' });
  });

  it('serves the worker’s own metrics on WORKER_METRICS_PORT', async () => {
    const line = await worker.waitFor((l) => l.includes('worker metrics listening'));
    const metricsPort = (JSON.parse(line) as { metricsPort: number }).metricsPort;
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /procurator_tasks_finished_total\{type="demo.echo",queue="default",status="succeeded"\} [1-9]/,
    );
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('on SIGTERM lets the task in flight finish, then exits 0 by itself', async () => {
    const res = await callApi(port, token, 'POST', '/v1/tasks', {
      type: 'demo.sleep',
      payload: { ms: 1500 },
    });
    const id = String(res.body.id);
    await waitForTaskStatus(port, token, id, ['running']);
    worker.child.kill('SIGTERM');
    const { code } = await worker.exited;
    expect(code).toBe(0);
    expect(worker.lines.some((l) => l.includes('shutdown complete'))).toBe(true);
    const task = (await callApi(port, token, 'GET', `/v1/tasks/${id}`)).body as unknown as TaskView;
    expect(task.status).toBe('succeeded');
    expect((task.result as { sleptMs: number }).sleptMs).toBeGreaterThanOrEqual(1400);

    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
  });
});

describe('the command line', () => {
  it('refuses a bad configuration value at start, naming the variable', async () => {
    const r = await runProcurator(['serve'], { SERVER_PORT: 'abc', QUEUE_BACKEND: 'kafka' });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('SERVER_PORT must be an integer between 0 and 65535 (got "abc")');
    expect(r.stdout).toContain('QUEUE_BACKEND must be memory or redis');
  });

  it('refuses to run a worker on the memory queue', async () => {
    const r = await runProcurator(['worker'], { QUEUE_BACKEND: 'memory' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('procurator worker needs QUEUE_BACKEND=redis');
  });

  it('migrates an empty PostgreSQL database, twice at once without harm', async () => {
    const name = `procurator_mig_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    try {
      const env = { DATABASE_URL: pgUrlFor(name) };
      const [a, b] = await Promise.all([runProcurator(['migrate'], env), runProcurator(['migrate'], env)]);
      expect([a.code, b.code]).toEqual([0, 0]);
      const c = new pg.Client({ connectionString: pgUrlFor(name) });
      await c.connect();
      const { rows } = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('users','tasks','task_events','audit_log')",
      );
      await c.end();
      expect(rows[0]!.n).toBe(4);
      const user = await runProcurator(['create-user', '--name', 'svc', '--role', 'dev', '--json'], env);
      expect(user.code).toBe(0);
      expect(JSON.parse(user.lines.find((l) => l.startsWith('{'))!)).toMatchObject({
        name: 'svc',
        role: 'dev',
      });
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('serves embedded (memory queue, PGlite) with a first admin token, and stops on SIGINT (Ctrl-C)', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'procurator-embedded-'));
    const serve = spawnProcurator(['serve'], {
      DATA_DIR: dataDir,
      SERVER_PORT: '0',
      SERVER_HOST: '127.0.0.1',
    });
    try {
      const port = await listeningPort(serve);
      const tokenLine = await serve.waitFor((l) => /^\s+prc_/.test(l));
      const token = tokenLine.trim();
      const res = await callApi(port, token, 'POST', '/v1/tasks', {
        type: 'demo.echo',
        payload: { embedded: true },
      });
      expect(res.status).toBe(202);
      const done = await waitForTaskStatus(port, token, String(res.body.id), ['succeeded']);
      expect(done.result).toEqual({ embedded: true });
      serve.child.kill('SIGINT');
      expect((await serve.exited).code).toBe(0);
      expect(serve.lines.some((l) => l.includes('shutdown complete'))).toBe(true);
      // The token was printed once, and never into a log line.
      expect(serve.lines.filter((l) => l.includes(token) && l.startsWith('{'))).toEqual([]);
    } finally {
      await serve.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
