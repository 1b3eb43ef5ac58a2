import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { createTestPostgres } from './databases';
import type { TestPostgres } from './databases';
import { REDIS_URL } from './pg-urls';
import { listeningPort, runProcurator, spawnProcurator } from './processes';
import type { Proc } from './processes';
import { deletePrefix, testPrefix, testRedis } from './redis';

type Env = Record<string, string>;

/**
 * Calls a `serve` process on 127.0.0.1 with an API token; `body`, if any, goes as JSON. The
 * answer's body is its parsed JSON, or null when it has none (a 204).
 */
export async function callApi(
  port: number,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'X-API-Token': token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

/** Polls GET /v1/tasks/:id until the task's status is one of `statuses`. */
export async function waitForTaskStatus(
  port: number,
  token: string,
  id: string,
  statuses: string[],
  timeoutMs = 20_000,
): Promise<TaskView> {
  const deadline = Date.now() + timeoutMs;
  let last: TaskView | undefined;
  while (Date.now() < deadline) {
    last = (await callApi(port, token, 'GET', `/v1/tasks/${id}`)).body as unknown as TaskView;
    if (statuses.includes(last.status)) return last;
    await sleep(50);
  }
  throw new Error(`task ${id} stayed ${last?.status}`);
}

/** Runs `procurator create-admin --json` (which must succeed) and returns the new admin's token. */
export async function createAdminToken(env: Env, name = 'root'): Promise<string> {
  const admin = await runProcurator(['create-admin', '--name', name, '--json'], env);
  expect(admin.code).toBe(0);
  const created = JSON.parse(admin.lines.find((l) => l.startsWith('{"id"'))!) as {
    token: string;
    role: string;
  };
  expect(created.role).toBe('admin');
  return created.token;
}

/** The settings every process of a test cluster shares: Redis under `prefix`, any free port. */
export function clusterEnv(databaseUrl: string, prefix: string): Env {
  return {
    DATABASE_URL: databaseUrl,
    QUEUE_BACKEND: 'redis',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    SERVER_PORT: '0',
    SERVER_HOST: '127.0.0.1',
  };
}

/** Deletes a test's Redis keys. */
export async function clearPrefix(prefix: string): Promise<void> {
  const r = testRedis();
  try {
    await deletePrefix(r, prefix);
  } finally {
    r.disconnect();
  }
}

export interface ClusterOptions {
  /** Names the Redis key prefix. */
  label: string;
  /** How many `serve` processes (default 1). */
  serves?: number;
  /** How many `worker` processes (default 0); they need WORKER_METRICS_PORT in `env`. */
  workers?: number;
  /** Settings of this test on top of clusterEnv(). */
  env?: Env;
  /** The admin user's name (default "root"). */
  adminName?: string;
}

export interface Cluster {
  db: TestPostgres;
  prefix: string;
  /** What every process got. */
  env: Env;
  /** The admin's API token. */
  token: string;
  serves: Proc[];
  workers: Proc[];
  /** The port of each of `serves`, in order. */
  ports: number[];
  /** Stops the processes, then deletes the Redis keys and drops the database. */
  stop(): Promise<void>;
}

/**
 * Built `procurator` processes on a fresh PostgreSQL database and Redis prefix, with an admin
 * token; resolves once every `serve` listens and every worker serves its metrics. A start that
 * fails cleans up as stop() does.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const prefix = testPrefix(opts.label);
  const db = await createTestPostgres();
  const env = { ...clusterEnv(db.url, prefix), ...opts.env };
  const serves: Proc[] = [];
  const workers: Proc[] = [];
  const stop = async () => {
    await Promise.all([...serves, ...workers].map((p) => p.stop()));
    await clearPrefix(prefix);
    await db.drop();
  };
  try {
    const token = await createAdminToken(env, opts.adminName);
    for (let i = 0; i < (opts.serves ?? 1); i++) serves.push(spawnProcurator(['serve'], env));
    for (let i = 0; i < (opts.workers ?? 0); i++) workers.push(spawnProcurator(['worker'], env));
    const ports = await Promise.all(serves.map((s) => listeningPort(s)));
    await Promise.all(workers.map((w) => w.waitFor((l) => l.includes('worker metrics listening'))));
    return { db, prefix, env, token, serves, workers, ports, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
