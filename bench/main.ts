import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VERSION } from '../lib/version';
import type { ThroughputResult } from './process-throughput';
import { embeddedBackend, measureThroughput, productionBackend } from './process-throughput';

/**
 * `npm run bench [-- --quick]`: Procurator's throughput on both backends, measured in one run
 * on this machine. Figures are for comparing runs on the same machine, not absolute claims.
 */
async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const pgUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
  const tasks = quick ? 2000 : 10000;
  const results: ThroughputResult[] = [];

  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  for (const [name, open] of [
    ['embedded (memory + PGlite)', () => embeddedBackend()],
    ['redis + postgres', () => productionBackend(pgUrl, redisUrl)],
  ] as const) {
    if (only && !name.includes(only)) continue;
    const backend = await open();
    try {
      results.push(await measureThroughput(name, backend, tasks));
    } finally {
      await backend.cleanup();
    }
  }

  console.log(
    `\nProcurator ${VERSION} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`,
  );
  console.log('| backend | tasks | batch submit (tasks/s) | process, 1 worker (tasks/s) |');
  console.log('|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${r.tasks} | ${r.submitPerSecond.toFixed(0)} | ${r.processPerSecond.toFixed(0)} |`,
    );
  }
  const dir = path.resolve('bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    JSON.stringify(
      { version: VERSION, node: process.version, cpus: os.cpus().length, quick, results },
      null,
      2,
    ),
  );
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
