import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs a measured thing in its own `node` process, so that the side producing load and the side
 * under test never share an event loop.
 *
 * Child entries are TypeScript files next to their parent module (`*-child.ts`); build.mjs
 * bundles each into `dist/bench-children/` (dependencies external, resolved from the
 * repository's node_modules), so `npm run bench` finds them after its build.
 */

/** The repository root: the nearest folder above this module whose package.json is Procurator's. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'procurator'
    ) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: cannot find the procurator package root');
    dir = up;
  }
}

/** The bundle build.mjs made of `entry` (relative to the repository root). */
function bundledChild(entry: string): string {
  const file = path.join(projectRoot(), 'dist', 'bench-children', `${path.basename(entry, '.ts')}.mjs`);
  if (!existsSync(file)) throw new Error(`bench: ${file} is missing; run npm run build`);
  return file;
}

/** Every child reports with `{ type }` messages; `error` is reserved for its failure. */
export interface ChildMessage {
  type: string;
}
interface ChildError {
  type: 'error';
  message: string;
}

export interface ChildHandle<Out extends ChildMessage> {
  readonly pid: number;
  /** The next message of this type (buffered if it came earlier); rejects on timeout or exit. */
  next<K extends Out['type']>(type: K, timeoutMs: number): Promise<Extract<Out, { type: K }>>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Forks `node` on the bundled `entry` with `input` as JSON in argv[2] and an IPC channel.
 * The child exits by itself when the channel closes (see child-side.ts), so a crashed
 * orchestrator leaves no process behind.
 */
export function forkChild<Out extends ChildMessage>(
  entry: string,
  input: unknown,
  execArgv: string[] = [],
): Promise<ChildHandle<Out>> {
  const file = bundledChild(entry);
  const child: ChildProcess = fork(file, [JSON.stringify(input)], {
    // Not the orchestrator's flags (--cpu-prof would profile every child into one folder), and
    // no --enable-source-maps: peers run as their users run them (the flag makes every stack
    // trace that is read cost a source-map lookup). Pass it in `execArgv` for readable stacks.
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const name = path.basename(entry, '.ts');
  const inbox: (Out | ChildError)[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  let failure: Error | null = null;
  child.on('message', (m: Out | ChildError) => {
    inbox.push(m);
    wake();
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      failure ??= new Error(`${name} exited (${signal ?? code}) before reporting`);
      wake();
      resolve();
    });
  });
  child.once('error', (err) => {
    failure = err;
    wake();
  });
  if (child.pid === undefined) throw new Error(`${name}: fork failed`);

  return Promise.resolve({
    pid: child.pid,
    async next(type, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type || m.type === 'error');
        if (i >= 0) {
          const m = inbox.splice(i, 1)[0]!;
          if (m.type === 'error' && type !== 'error')
            throw new Error(`${name}: ${(m as ChildError).message}`);
          return m as Extract<Out, { type: typeof type }>;
        }
        if (failure) throw failure;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${name}: no '${type}' within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  });
}
