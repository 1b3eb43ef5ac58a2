import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { projectRoot } from '../load/child-process';

/** What the figures were measured on: the machine, the servers and the library versions. */
export async function machineReport(env: { pgAdminUrl: string; redisUrl: string }) {
  const client = new pg.Client({ connectionString: env.pgAdminUrl });
  await client.connect();
  const postgres =
    (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '?';
  await client.end();
  const redis = new Redis(env.redisUrl);
  const info = await redis.info('server');
  redis.disconnect();
  const root = projectRoot();
  const version = async (pkg: string) => {
    try {
      const json = await readFile(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8');
      return (JSON.parse(json) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  const procurator = (
    JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string }
  ).version;
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    versions: {
      procurator,
      bullmq: await version('bullmq'),
      'pg-boss': await version('pg-boss'),
      hono: await version('hono'),
      '@hono/node-server': await version('@hono/node-server'),
      autocannon: await version('autocannon'),
    },
  };
}

export type MachineReport = Awaited<ReturnType<typeof machineReport>>;
