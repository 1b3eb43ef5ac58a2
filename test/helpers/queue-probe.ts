import { readFile, readdir, readlink } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { redisKeys } from '../../lib/queue/keys';
import { CONSUMER_GROUP } from '../../lib/queue/queue-backend';
import type { Priority } from '../../lib/tasks/task';
import type { Proc } from './processes';
import { testRedis } from './redis';

/**
 * Read-only looks at what tests must not take on trust: the consumer group's pending entries,
 * a worker process's metrics, and the Redis connections of a process. Nothing here changes
 * state.
 */

/** One entry of the consumer group's pending list, with the task its message names. */
export interface PendingEntry {
  id: string;
  taskId: string;
  consumer: string;
  idleMs: number;
  deliveries: number;
}

/** The stream key of a queue and priority under a test's prefix. */
export function streamKey(prefix: string, queue = 'default', priority: Priority = 'normal'): string {
  return redisKeys(prefix).stream(queue, priority);
}

/** The pending (delivered, not acknowledged) entries of a stream, by XPENDING. */
export async function pendingEntries(
  prefix: string,
  queue = 'default',
  priority: Priority = 'normal',
): Promise<PendingEntry[]> {
  const redis = testRedis();
  try {
    const key = streamKey(prefix, queue, priority);
    if ((await redis.exists(key)) === 0) return [];
    const rows = (await redis.xpending(key, CONSUMER_GROUP, '-', '+', 1000)) as [
      string,
      string,
      number,
      number,
    ][];
    const out: PendingEntry[] = [];
    for (const [id, consumer, idleMs, deliveries] of rows) {
      const entry = await redis.xrange(key, id, id);
      const fields = entry[0]?.[1] ?? [];
      const t = fields.indexOf('t');
      out.push({
        id,
        taskId: t >= 0 ? fields[t + 1]! : '',
        consumer,
        idleMs: Number(idleMs),
        deliveries: Number(deliveries),
      });
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

/** The names of the consumer groups of a stream ([] when the stream does not exist). */
export async function groupNames(redis: Redis, key: string): Promise<string[]> {
  if ((await redis.exists(key)) === 0) return [];
  const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
  return groups.map((g) => String(g[g.indexOf('name') + 1]));
}

/** The metrics port a `procurator worker` process announced. */
export async function workerMetricsPort(proc: Proc): Promise<number> {
  const line = await proc.waitFor((l) => l.includes('worker metrics listening'));
  return (JSON.parse(line) as { metricsPort: number }).metricsPort;
}

/** The value of an unlabelled counter or gauge on a process's /metrics (127.0.0.1). */
export async function metricValue(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`metric ${name} not found on port ${port}`);
  return Number(line.slice(name.length + 1));
}

/** One line of CLIENT LIST, as fields. */
export type RedisClientInfo = Record<string, string>;

/**
 * The Redis connections that belong to process `pid`, from CLIENT LIST, matched by the local
 * port of each of the process's TCP sockets (Linux /proc). Lets a test see that *this*
 * worker — not another test's — is blocked in XREADGROUP (flags contain `b`).
 */
export async function redisClientsOf(redis: Redis, pid: number): Promise<RedisClientInfo[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  const list = String(await redis.client('LIST'));
  return list
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      Object.fromEntries(
        l
          .trim()
          .split(' ')
          .map((kv) => kv.split('=', 2) as [string, string]),
      ),
    )
    .filter((c) => ports.has(Number(String(c.addr).split(':').pop())));
}

/** Whether process `pid` has a connection blocked in XREADGROUP right now. */
export async function blockedInRead(redis: Redis, pid: number): Promise<boolean> {
  const clients = await redisClientsOf(redis, pid);
  return clients.some((c) => c.cmd === 'xreadgroup' && (c.flags ?? '').includes('b'));
}
