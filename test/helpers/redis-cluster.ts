import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);

/** A Redis Cluster of local `redis-server` processes on loopback ports, for one test file. */
export interface LocalRedisCluster {
  /** `host:port,…` of every node: REDIS_CLUSTER_NODES. */
  seeds: string;
  ports: number[];
  /** A cluster client (the caller disconnects it). */
  client(): Cluster;
  /** The node ids and ports of the current masters, each with the slot ranges it serves. */
  masters(): Promise<{ id: string; port: number; slots: [number, number][] }[]>;
  /** SIGKILLs the node on `port`. */
  kill(port: number): void;
  /** Whether the node on `port` still runs. */
  alive(port: number): boolean;
  /** Runs `fn` on a plain connection to the node on `port`. */
  withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T>;
  /** Waits until every live node says the cluster is ok and all slots are served. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `masters` masters with one replica each (3 + 3 by default), created with
 * `redis-cli --cluster create`, without persistence. Bounded: gives up after `timeoutMs`.
 */
export async function startRedisCluster(masters = 3, timeoutMs = 30_000): Promise<LocalRedisCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'procurator-cluster-'));
  const ports = await clusterPorts(masters * 2);
  const procs = new Map<number, ChildProcess>();
  for (const port of ports) {
    const p = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1500',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    );
    procs.set(port, p);
  }
  const stop = async () => {
    for (const p of procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await sleep(100);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + timeoutMs;
    for (const port of ports) await waitForPing(port, deadline);
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: timeoutMs },
    );
    const cluster: LocalRedisCluster = {
      seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
      ports,
      client: () =>
        new Cluster(
          ports.map((port) => ({ host: '127.0.0.1', port })),
          {
            redisOptions: { maxRetriesPerRequest: 2 },
            retryDelayOnFailover: 200,
            slotsRefreshInterval: 2000,
          },
        ),
      async masters() {
        const live = [...procs].filter(([, p]) => p.exitCode === null && p.signalCode === null);
        const text = await withNode(live[0]![0], (r) => r.cluster('NODES') as Promise<string>);
        return text
          .trim()
          .split('\n')
          .map((line) => line.split(' '))
          .filter((f) => f[2]!.includes('master') && !f[2]!.includes('fail'))
          .map((f) => ({
            id: f[0]!,
            port: Number(f[1]!.split(':')[1]!.split('@')[0]),
            slots: f.slice(8).map((r) => {
              const [a, b] = r.split('-').map(Number);
              return [a!, b ?? a!] as [number, number];
            }),
          }));
      },
      kill(port) {
        procs.get(port)?.kill('SIGKILL');
      },
      alive(port) {
        const p = procs.get(port);
        return p !== undefined && p.exitCode === null && p.signalCode === null;
      },
      withNode,
      async waitHealthy(ms = 20_000) {
        const until = Date.now() + ms;
        for (;;) {
          const live = [...procs]
            .filter(([, p]) => p.exitCode === null && p.signalCode === null)
            .map(([p]) => p);
          const states = await Promise.all(
            live.map((port) => withNode(port, (r) => r.cluster('INFO')).catch(() => '')),
          );
          if (states.every((s) => s.includes('cluster_state:ok') && s.includes('cluster_slots_ok:16384')))
            return;
          if (Date.now() > until) throw new Error(`Redis Cluster not healthy after ${ms} ms`);
          await sleep(100);
        }
      },
      stop,
    };
    await cluster.waitHealthy(Math.max(1000, deadline - Date.now()));
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

async function withNode<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
  });
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function waitForPing(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      await withNode(port, (r) => r.ping());
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

/** `n` ports whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
