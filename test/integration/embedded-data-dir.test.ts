import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME } from '../../lib/db/data-dir-lock';
import type { TaskView } from '../../lib/tasks/task';
import { callApi, waitForTaskStatus } from '../helpers/cluster';
import { listeningPort, spawnProcurator } from '../helpers/processes';
import type { Proc } from '../helpers/processes';

/** An embedded `serve` (PGlite in DATA_DIR, memory queue) on a free 127.0.0.1 port. */
async function startEmbedded(dataDir: string): Promise<{ serve: Proc; port: number }> {
  const serve = spawnProcurator(['serve'], {
    DATA_DIR: dataDir,
    SERVER_PORT: '0',
    SERVER_HOST: '127.0.0.1',
    // The crash test submits as fast as it can.
    RATE_LIMIT_RPS: '100000',
    RATE_LIMIT_BURST: '100000',
  });
  try {
    return { serve, port: await listeningPort(serve) };
  } catch (err) {
    await serve.stop();
    throw err;
  }
}

/** The admin token a first start prints once. */
async function firstToken(serve: Proc): Promise<string> {
  return (await serve.waitFor((l) => /^\s+prc_/.test(l))).trim();
}

async function killHard(proc: Proc): Promise<void> {
  proc.child.kill('SIGKILL');
  expect((await proc.exited).signal).toBe('SIGKILL');
}

describe('the embedded database’s DATA_DIR', () => {
  let dataDir: string;
  const procs: Proc[] = [];
  const start = async () => {
    const s = await startEmbedded(dataDir);
    procs.push(s.serve);
    return s;
  };
  /** Runs a command that should be refused; one that is not gets killed after 15 s. */
  const runRefused = async (args: string[], env: Record<string, string>) => {
    const p = spawnProcurator(args, env);
    procs.push(p);
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
    const { code } = await p.exited;
    clearTimeout(timer);
    return { code, stdout: p.lines.join('\n') };
  };

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'procurator-datadir-'));
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses every second process at once, naming serve’s pid; serve answers on, its data intact', async () => {
    const { serve, port } = await start();
    const token = await firstToken(serve);
    const before = await callApi(port, token, 'POST', '/v1/tasks', { type: 'demo.echo', payload: { n: 1 } });
    expect(before.status).toBe(202);
    await waitForTaskStatus(port, token, String(before.body.id), ['succeeded']);

    const env = { DATA_DIR: dataDir, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1' };
    const commands = [
      ['create-admin', '--name', 'second'],
      ['create-user', '--name', 'second', '--role', 'dev'],
      ['migrate'],
      ['rotate-signing-key'],
      ['serve'],
    ];
    const started = Date.now();
    const results = await Promise.all(commands.map((args) => runRefused(args, env)));
    // Each is a Node start and a refused lock, run side by side: no waiting on the holder.
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`procurator: DATA_DIR ${dataDir} is in use by pid ${serve.child.pid}: `);
    }

    const after = await callApi(port, token, 'POST', '/v1/tasks', { type: 'demo.echo', payload: { n: 2 } });
    expect(after.status).toBe(202);
    await waitForTaskStatus(port, token, String(after.body.id), ['succeeded']);
    const users = await callApi(port, token, 'GET', '/v1/users');
    expect((users.body.items as { name: string }[]).map((u) => u.name)).toEqual(['admin']);

    // And on disk: a clean restart finds both tasks, and no second user.
    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
    const again = await start();
    for (const [id, n] of [
      [before.body.id, 1],
      [after.body.id, 2],
    ] as const) {
      const task = (await callApi(again.port, token, 'GET', `/v1/tasks/${String(id)}`))
        .body as unknown as TaskView;
      expect(task).toMatchObject({ status: 'succeeded', result: { n } });
    }
    const usersAgain = await callApi(again.port, token, 'GET', '/v1/users');
    expect((usersAgain.body.items as unknown[]).length).toBe(1);
  });

  it('is free again at once after kill -9, and a lock file naming a live pid blocks nothing', async () => {
    const first = await start();
    const token = await firstToken(first.serve);
    await killHard(first.serve);
    // Another serve starts at once and keeps the first one's data.
    const second = await start();
    expect((await callApi(second.port, token, 'GET', '/v1/me')).status).toBe(200);
    await killHard(second.serve);
    // A pid that is certainly alive — this test runner, or 1 as in a container — in a lock file
    // that no process holds: the lock decides, not the pid.
    for (const pid of [process.pid, 1]) {
      await writeFile(
        path.join(dataDir, LOCK_FILE_NAME),
        JSON.stringify({ pid, host: 'elsewhere', since: '' }),
      );
      const next = await start();
      expect((await callApi(next.port, token, 'GET', '/v1/me')).status).toBe(200);
      await killHard(next.serve);
    }
  });

  it('keeps every task answered 202 when serve is killed -9 in the middle of 500 submissions', async () => {
    const first = await start();
    const token = await firstToken(first.serve);
    const total = 500;
    const killAfter = 200;
    const concurrency = 16;
    const deadline = Date.now() + 60_000;
    const accepted = new Map<string, number>();
    let next = 0;
    let refused = 0;
    let killed = false;
    const submitter = async () => {
      while (next < total && Date.now() < deadline) {
        const i = next++;
        try {
          const res = await callApi(first.port, token, 'POST', '/v1/tasks', {
            type: 'demo.echo',
            payload: { i },
          });
          if (res.status === 202) accepted.set(String(res.body.id), i);
        } catch {
          refused++; // the connection died with the process: no answer, no promise made
        }
        if (!killed && accepted.size >= killAfter) {
          killed = true;
          first.serve.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, submitter));
    expect(killed).toBe(true);
    expect((await first.serve.exited).signal).toBe('SIGKILL');
    // Requests were still in flight when it died: it was killed mid-stream, not after the last one.
    expect(refused).toBeGreaterThan(0);

    const second = await start();
    const ids = [...accepted.keys()];
    const missing: string[] = [];
    for (let k = 0; k < ids.length; k += concurrency) {
      await Promise.all(
        ids.slice(k, k + concurrency).map(async (id) => {
          const res = await callApi(second.port, token, 'GET', `/v1/tasks/${id}`);
          const task = res.body as unknown as TaskView;
          if (res.status !== 200 || (task.payload as { i: number }).i !== accepted.get(id)) missing.push(id);
        }),
      );
    }
    expect(missing).toEqual([]);
  });
});
