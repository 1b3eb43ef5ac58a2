import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migratePostgres } from '../../lib/db/migrate';
import { redisKeys } from '../../lib/queue/keys';
import { unlinkMatching } from '../peers/redis-prefix';

/** The built command line, next to this bundle (dist/bench.js → dist/procurator.js). */
const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'procurator.js');

export interface BenchEnv {
  pgAdminUrl: string;
  redisUrl: string;
}

/** The services every bench measures against: BENCH_PG_URL and BENCH_REDIS_URL, else the local ones. */
export function benchEnv(): BenchEnv {
  return {
    pgAdminUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
  };
}

/** A child `procurator` process and what it printed. */
export class ProcuratorProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        if (this.lines.length > 2000) this.lines.shift();
        buf = buf.slice(i + 1);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async waitFor(test: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const hit = this.lines.find(test);
      if (hit) return hit;
      if (this.child.exitCode !== null)
        throw new Error(`process exited:\n${this.lines.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting; last output:\n${this.lines.slice(-20).join('\n')}`);
  }

  /** Resident set size in MiB, from /proc. */
  async rssMb(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export function spawnProcurator(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
  entry: string = ENTRY,
): ProcuratorProcess {
  return new ProcuratorProcess(
    spawn(process.execPath, [...nodeArgs, entry, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/**
 * Procurator on Redis + PostgreSQL as production runs it: a fresh database (migrated), a
 * fresh key prefix, an admin token, one `serve` process; workers are started on demand.
 */
export class ProcuratorStack {
  readonly prefix = `bench-${randomBytes(4).toString('hex')}`;
  readonly database = `procurator_bench_${randomBytes(4).toString('hex')}`;
  env: Record<string, string> = {};
  url = '';
  token = '';
  serve?: ProcuratorProcess;
  readonly workers: ProcuratorProcess[] = [];
  /** Told when a measured phase starts and ends (profilers and samplers hook in here). */
  onPhase?: (phase: string) => void;
  /** Extra node arguments for worker processes (e.g. --cpu-prof to profile them). */
  workerNodeArgs: string[] = [];
  /** Extra node arguments for the serve process. */
  serveNodeArgs: string[] = [];

  /**
   * `entry`: the built command line to run (default: the one beside this bundle); another
   * build of Procurator (an older commit's dist/procurator.js) is measured the same way.
   */
  constructor(
    private readonly bench: BenchEnv,
    private readonly entry: string = ENTRY,
  ) {}

  get databaseUrl(): string {
    const u = new URL(this.bench.pgAdminUrl);
    u.pathname = `/${this.database}`;
    return u.toString();
  }

  async start(extraEnv: Record<string, string> = {}): Promise<void> {
    const admin = new pg.Client({ connectionString: this.bench.pgAdminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${this.database}`);
    await admin.end();
    if (this.entry === ENTRY) await migratePostgres(this.databaseUrl);
    else await this.migrateWithEntry();
    this.env = {
      DATABASE_URL: this.databaseUrl,
      DATABASE_POOL_SIZE: '20',
      QUEUE_BACKEND: 'redis',
      REDIS_URL: this.bench.redisUrl,
      REDIS_PREFIX: this.prefix,
      SERVER_HOST: '127.0.0.1',
      SERVER_PORT: '0',
      WORKER_METRICS_PORT: '0',
      // "auth and rate limit on, limit raised": the limiter runs on every request, never refuses.
      RATE_LIMIT_RPS: '1000000',
      RATE_LIMIT_BURST: '10000000',
      ...extraEnv,
    };
    const created = spawnProcurator(['create-admin', '--name', 'bench', '--json'], this.env, [], this.entry);
    await created.exited;
    const json = created.lines.find((l) => l.startsWith('{"id"'));
    if (!json) throw new Error(`create-admin failed:\n${created.lines.join('\n')}`);
    this.token = (JSON.parse(json) as { token: string }).token;
    this.serve = spawnProcurator(
      ['serve'],
      { ...this.env, LOG_LEVEL: 'info' },
      this.serveNodeArgs,
      this.entry,
    );
    const line = await this.serve.waitFor((l) => l.includes('Procurator listening'));
    this.url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
  }

  /** Another build's own migrations: its schema, not this one's. */
  private async migrateWithEntry(): Promise<void> {
    const m = spawnProcurator(['migrate'], { DATABASE_URL: this.databaseUrl }, [], this.entry);
    if ((await m.exited) !== 0) throw new Error(`migrate failed:\n${m.lines.join('\n')}`);
  }

  async startWorkers(n: number, extraEnv: Record<string, string> = {}): Promise<ProcuratorProcess[]> {
    const started: ProcuratorProcess[] = [];
    for (let i = 0; i < n; i++) {
      const w = spawnProcurator(
        ['worker'],
        {
          ...this.env,
          ...extraEnv,
          WORKER_ID: `bench-worker-${this.workers.length}`,
          LOG_LEVEL: 'info',
        },
        this.workerNodeArgs,
        this.entry,
      );
      this.workers.push(w);
      started.push(w);
    }
    await Promise.all(started.map((w) => w.waitFor((l) => l.includes('worker metrics listening'))));
    return started;
  }

  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.stop()));
  }

  async api(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: { 'X-API-Token': this.token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  }

  async stop(): Promise<void> {
    await this.stopWorkers();
    await this.serve?.stop();
    const admin = new pg.Client({ connectionString: this.bench.pgAdminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
    await admin.end();
    const redis = new Redis(this.bench.redisUrl);
    await unlinkMatching(redis, redisKeys(this.prefix).pattern);
    redis.disconnect();
  }
}
