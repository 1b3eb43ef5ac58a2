import { existsSync } from 'node:fs';
import path from 'node:path';
import { measureDrain } from '../procurator/measure';
import type { TaskMaker } from '../procurator/measure';
import { ProcuratorStack, benchEnv } from '../procurator/stack';
import { median } from '../report/median';

/**
 * `npm run bench:flow [-- --runs N] [-- --tasks N] [-- --base NAME=path/to/dist/procurator.js]`:
 * how close tasks held back by a full concurrency limit come to what the limit allows
 * (README "Flow control"). One `serve` and one worker (WORKER_CONCURRENCY 50, as users run
 * it) drain 5 ms `demo.sleep` tasks from a paused queue:
 *   - `queue:` limit 2, no keys: at most 2 / 5 ms = 400 starts a second;
 *   - the same limit, the tasks spread over 8 concurrency keys (fair sharing);
 *   - `key:` limit 2 for each of the 8 keys: at most 16 at once, 3,200 a second.
 * Each figure is printed against that bound. With `--base`, another build (say the commit
 * before a change) is measured too, in turns with this one, and the ratio between the two
 * printed. Bounded: runs × builds × 3 drains of `--tasks` (default 1,000) tasks.
 */

const env = benchEnv();

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const TASK_MS = 5;
const KEYS = 8;
const LIMIT = 2;
const runs = Math.min(Math.max(Number(arg('runs') ?? 3), 1), 20);
const tasks = Math.min(Math.max(Number(arg('tasks') ?? 1000), 100), 100_000);

interface Scenario {
  name: string;
  queue: string;
  /** Starts a second the limit allows at most. */
  bound: number;
  task: TaskMaker;
}

const sleep: TaskMaker = () => ({ type: 'demo.sleep', payload: { ms: TASK_MS } });
const SCENARIOS: Scenario[] = [
  {
    name: `queue limit ${LIMIT}, no keys`,
    queue: 'flow-plain',
    bound: (LIMIT * 1000) / TASK_MS,
    task: sleep,
  },
  {
    name: `queue limit ${LIMIT}, ${KEYS} keys`,
    queue: 'flow-keyed',
    bound: (LIMIT * 1000) / TASK_MS,
    task: (i) => ({ ...sleep(i), concurrencyKey: `tenant-${i % KEYS}` }),
  },
  {
    name: `key limit ${LIMIT} for each of ${KEYS} keys`,
    queue: 'flow-tenants',
    bound: (KEYS * LIMIT * 1000) / TASK_MS,
    task: (i) => ({ ...sleep(i), concurrencyKey: `tenant-${i % KEYS}` }),
  },
];
const FLOW_LIMITS = JSON.stringify({
  'queue:flow-plain': { concurrency: LIMIT },
  'queue:flow-keyed': { concurrency: LIMIT },
  'key:flow-tenants': { concurrency: LIMIT },
});

function builds(): { label: string; entry?: string }[] {
  const out: { label: string; entry?: string }[] = [{ label: 'this build' }];
  const base = arg('base');
  if (!base) return out;
  const m = /^([^=]+)=(.+)$/.exec(base);
  if (!m) throw new Error('--base takes NAME=path/to/dist/procurator.js');
  const entry = path.resolve(m[2]!);
  if (!existsSync(entry)) throw new Error(`${entry} does not exist (build it first)`);
  return [{ label: m[1]!, entry }, ...out];
}

/** One run of every scenario on a fresh stack of one build: tasks a second per scenario. */
async function measure(entry: string | undefined): Promise<number[]> {
  const stack = new ProcuratorStack(env, entry);
  await stack.start({ LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '50', FLOW_LIMITS });
  try {
    const out: number[] = [];
    for (const s of SCENARIOS)
      out.push((await measureDrain(stack, tasks, 1, 1, { queue: s.queue, task: s.task })).tasksPerSecond);
    return out;
  } finally {
    await stack.stop();
  }
}

async function main(): Promise<void> {
  const all = builds();
  const figures = new Map<string, number[][]>(all.map((b) => [b.label, []]));
  for (let r = 1; r <= runs; r++) {
    // Alternate which build goes first, so neither always runs on a machine fresh from a rest.
    for (const b of r % 2 ? all : [...all].reverse()) {
      const f = await measure(b.entry);
      figures.get(b.label)!.push(f);
      console.log(
        `run ${r} ${b.label}: ${f.map((x, i) => `${SCENARIOS[i]!.name} ${Math.round(x)}/s`).join(', ')}`,
      );
    }
  }
  console.log(`\nmedians of ${runs} runs, ${tasks} tasks of ${TASK_MS} ms each, 1 worker at concurrency 50:`);
  SCENARIOS.forEach((s, i) => {
    const medians = all.map((b) => median(figures.get(b.label)!.map((f) => f[i]!)));
    const cells = all.map(
      (b, j) =>
        `${b.label} ${Math.round(medians[j]!)}/s (${(medians[j]! / s.bound).toFixed(2)} of the bound)`,
    );
    const vs = all.length === 2 ? `, ratio ${(medians[1]! / medians[0]!).toFixed(2)}×` : '';
    console.log(`  ${s.name} (bound ${s.bound}/s): ${cells.join(' / ')}${vs}`);
  });
  console.log(
    JSON.stringify({
      runs,
      tasks,
      scenarios: SCENARIOS.map((s) => s.name),
      figures: Object.fromEntries(figures),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
