import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../helpers/cluster';
import { startCluster } from '../helpers/cluster';

// The README's TypeScript example of `procurator/client`, run as written (compiled, nothing
// else) by Node against a real serve and worker: the package export resolves, and the
// example does what its comments say.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

async function readmeExample(): Promise<string> {
  const readme = await readFile(path.join(root, 'README.md'), 'utf8');
  const m = /<!-- readme-client-example -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('the README has no client example');
  return m[1]!;
}

describe("the README's typed-client example", () => {
  let cluster: Cluster;
  const file = path.join(root, 'dist', 'readme-client-example.mjs');
  beforeAll(async () => {
    cluster = await startCluster({
      label: 'readme-client',
      serves: 1,
      workers: 1,
      env: { WORKER_METRICS_PORT: '0' },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await rm(file, { force: true });
  });

  it('runs and prints what its comments say', async () => {
    const { code } = await transform(await readmeExample(), {
      loader: 'ts',
      format: 'esm',
      target: 'node20',
    });
    // Inside the package, so `procurator/client` resolves through package.json's exports.
    await writeFile(file, code);
    const out = await run(process.execPath, [file], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        PROCURATOR_URL: `http://127.0.0.1:${cluster.ports[0]}`,
        PROCURATOR_TOKEN: cluster.token,
      },
      timeout: 30_000,
    });
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe("succeeded { hello: 'typed' }");
    expect(lines[1]).toMatch(/^succeeded demo.echo tasks: [1-9]\d*$/);
    expect(lines.slice(2).join(' ')).toMatch(/^422 \{\s*path: 'type',\s*message: 'unknown task type/);
  });
});
