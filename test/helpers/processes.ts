import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

const ENTRY = path.resolve(import.meta.dirname, '../../dist/procurator.js');

export interface Proc {
  child: ChildProcess;
  /** Every stdout and stderr line so far. */
  lines: string[];
  /** Resolves with the first line (past or future) matching `test`. */
  waitFor(test: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops the process if it still runs (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** Runs the built `procurator` command (dist/) with exactly the given environment. */
export function spawnProcurator(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--enable-source-maps', ENTRY, ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let buf = '';
    stream?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      for (const w of waiters) w();
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );
  return {
    child,
    lines,
    exited,
    waitFor(test, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find(test);
          if (hit !== undefined) {
            done();
            resolve(hit);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process exited before the expected line; output:\n${lines.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`expected line not seen in ${timeoutMs} ms; output:\n${lines.slice(-30).join('\n')}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The port a `serve` process listens on, from its "listening" log line. */
export async function listeningPort(proc: Proc): Promise<number> {
  const line = await proc.waitFor((l) => l.includes('Procurator listening'));
  return (JSON.parse(line) as { port: number }).port;
}

/** Runs a command to completion and returns its output. */
export async function runProcurator(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; lines: string[] }> {
  const p = spawnProcurator(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.lines.join('\n'), lines: p.lines };
}
