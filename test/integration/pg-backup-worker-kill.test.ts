import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, startCluster } from '../helpers/cluster';
import type { Cluster } from '../helpers/cluster';
import { spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';

/**
 * A worker process killed with SIGKILL in the middle of a pg.backup: its pg_dump (a fake on
 * PATH that keeps writing) must die with it, and the next worker to start removes the
 * temporary file it left.
 */
let root: string;
let cluster: Cluster | undefined;
const procs: Proc[] = [];
const fakePids: number[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'procurator-bk-kill-'));
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop(1000)));
  // Without the fix the fake outlives its worker: never leave it running.
  for (const pid of fakePids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await cluster?.stop();
  await rm(root, { recursive: true, force: true });
});

/** Running, as opposed to gone or a zombie that nobody reaped yet (kill(pid, 0) succeeds on those). */
async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function startWorker(env: Record<string, string>, id: string): Promise<Proc> {
  const p = spawnProcurator(['worker'], { ...env, WORKER_ID: id });
  procs.push(p);
  await p.waitFor((l) => l.includes('worker metrics listening'));
  return p;
}

describe('pg.backup when its worker is killed with SIGKILL', () => {
  it('pg_dump dies with the worker, and the next worker removes the stale temporary file at start', async () => {
    const bin = await mkdtemp(path.join(root, 'bin-'));
    const backupDir = await mkdtemp(path.join(root, 'backups-'));
    const pidFile = path.join(bin, 'pid');
    await writeFile(
      path.join(bin, 'pg_dump'),
      [
        '#!/bin/sh',
        `echo $$ > '${pidFile}'`,
        'for a in "$@"; do case "$a" in --file=*) f="${a#--file=}";; esac; done',
        'while :; do echo row >> "$f"; sleep 0.2; done',
      ].join('\n'),
    );
    await chmod(path.join(bin, 'pg_dump'), 0o755);

    cluster = await startCluster({
      label: 'bk-kill',
      env: {
        WORKER_METRICS_PORT: '0',
        PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
        // The fake never connects; the URL only has to be valid.
        BACKUP_TARGETS: JSON.stringify({ main: 'postgres://backup@127.0.0.1:1/main' }),
        BACKUP_DIR: backupDir,
      },
    });
    const first = await startWorker(cluster.env, 'bk-kill-1');
    const res = await callApi(cluster.ports[0]!, cluster.token, 'POST', '/v1/tasks', {
      type: 'pg.backup',
      payload: { target: 'main' },
    });
    expect(res.status).toBe(202);

    const pid = await until(
      'the fake pg_dump starts',
      async () => Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || undefined,
      20_000,
    );
    fakePids.push(pid);
    const dir = path.join(backupDir, 'main');
    const partial = await until(
      'the dump writes its temporary file',
      async () => {
        const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.partial'));
        const [name] = names;
        return name && (await readFile(path.join(dir, name), 'utf8')).length > 0 ? name : undefined;
      },
      10_000,
    );

    first.child.kill('SIGKILL');
    await first.exited;
    await until('the fake pg_dump is gone', async () => ((await isRunning(pid)) ? undefined : true), 5000);
    // Nobody was left to clean up: the file is still there for the next worker.
    expect(await readdir(dir)).toContain(partial);

    const second = await startWorker(cluster.env, 'bk-kill-2');
    const swept = await second.waitFor((l) => l.includes('pg.backup swept stale temporary files'));
    expect(JSON.parse(swept)).toMatchObject({ removed: 1, live: 0 });
    expect(await readdir(dir)).not.toContain(partial);
  });
});
