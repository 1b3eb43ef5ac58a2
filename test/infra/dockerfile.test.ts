import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySteps, execForm, lastOf, parseStages, runCommands } from '../helpers/dockerfile';
import type { Stage } from '../helpers/dockerfile';
import { freePort } from '../helpers/free-port';
import { PG_ADMIN_URL, REDIS_URL, pgUrlFor } from '../helpers/pg-urls';
import { productionModules } from '../helpers/production-modules';
import { clearPrefix } from '../helpers/cluster';
import { testPrefix } from '../helpers/redis';

/**
 * infra/docker/Dockerfile, without a Docker engine (CI has none): its stages and runtime
 * properties as parsed, then its two layouts replayed on this machine — the build stage's
 * COPYs into an empty folder where `npm run build` must succeed, and the runtime stage's
 * COPYs (with a node_modules of production packages only) from which migrate, bootstrap,
 * serve and worker must run and the HEALTHCHECK command must pass.
 */

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCKERFILE = path.join(ROOT, 'infra/docker/Dockerfile');

let stages: Stage[];
const stage = (name: string) => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};

beforeAll(async () => {
  stages = parseStages(await readFile(DOCKERFILE, 'utf8'));
});

describe('infra/docker/Dockerfile, as written', () => {
  it('has the stages build, deps and runtime, runtime last (the image docker build makes)', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
  });

  it('runs on Debian bookworm with the Node major the tests run on', () => {
    const nodeMajor = process.versions.node.split('.')[0];
    for (const s of stages) expect(s.from, s.name).toBe(`node:${nodeMajor}-bookworm-slim`);
  });

  it('builds with npm ci and the esbuild bundle', () => {
    const cmds = runCommands(stage('build'));
    expect(cmds).toContain('npm ci --no-audit --no-fund');
    expect(cmds).toContain('npm run build');
  });

  it('runs as a fixed non-root uid and gid', () => {
    const user = lastOf(stage('runtime'), 'USER');
    expect(user).toBe('10001:10001');
    expect(runCommands(stage('runtime')).join('\n')).toMatch(/useradd --system --uid 10001 --gid 10001/);
  });

  it('is one image for every command: ENTRYPOINT the bundle, CMD serve', () => {
    expect(execForm(lastOf(stage('runtime'), 'ENTRYPOINT')!)).toEqual([
      'node',
      '--enable-source-maps',
      'dist/procurator.js',
    ]);
    expect(execForm(lastOf(stage('runtime'), 'CMD')!)).toEqual(['serve']);
  });

  it('has a HEALTHCHECK that asks /healthz', () => {
    const hc = healthcheck();
    expect(hc.options).toMatch(/--interval=\d+s/);
    expect(hc.options).toMatch(/--timeout=\d+s/);
    expect(hc.command.join(' ')).toMatch(/\/healthz(?![\w-])/);
  });

  it('installs pg_dump (postgresql-client-N) and setpriv (util-linux)', () => {
    const apt = runCommands(stage('runtime')).find((c) => c.includes('apt-get install'))!;
    // The major is checked against the compose database in compose.test.ts.
    expect(apt).toMatch(/\bpostgresql-client-\d+\b/);
    expect(apt).toMatch(/\butil-linux\b/);
  });

  it('keeps development dependencies out of the runtime stage', () => {
    const deps = runCommands(stage('deps'));
    expect(deps.some((c) => /npm ci .*--omit=dev/.test(c))).toBe(true);
    expect(deps.some((c) => /npm (ci|install)(?!.*--omit=dev)/.test(c))).toBe(false);
    // Nothing installs packages in the runtime stage itself.
    expect(runCommands(stage('runtime')).some((c) => /\bnpm\b/.test(c))).toBe(false);
    const modules = copySteps(stage('runtime')).filter((c) => c.dest === '/app/node_modules');
    expect(modules.map((c) => [c.from, c.sources])).toEqual([['deps', ['/app/node_modules']]]);
  });

  it('copies into the runtime the bundle, the migrations, package.json and the production modules only', () => {
    expect(copySteps(stage('runtime')).map(({ from, sources, dest }) => ({ from, sources, dest }))).toEqual([
      { from: 'deps', sources: ['/app/node_modules'], dest: '/app/node_modules' },
      { from: 'build', sources: ['/src/dist'], dest: '/app/dist' },
      { from: null, sources: ['drizzle/migrations'], dest: '/app/drizzle/migrations' },
      { from: null, sources: ['package.json'], dest: '/app' },
    ]);
  });

  it('copies nothing that .dockerignore leaves out of the context', async () => {
    const ignored = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = stages
      .flatMap((s) => copySteps(s).filter((c) => c.from === null))
      .flatMap((c) => c.sources);
    for (const source of sources) {
      for (const pattern of ignored) {
        const plain = pattern.replace(/^\*\*\//, '');
        expect(source === plain || source.startsWith(`${plain}/`), `${source} vs ${pattern}`).toBe(false);
      }
    }
    // What must never reach an image or a build log.
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'infra/.env', '.procurator']));
  });
});

/** The HEALTHCHECK's options and its exec-form command. */
function healthcheck(): { options: string; command: string[] } {
  const args = lastOf(stage('runtime'), 'HEALTHCHECK')!;
  const at = args.indexOf('CMD ');
  return { options: args.slice(0, at), command: execForm(args.slice(at + 'CMD '.length)) };
}

/**
 * Replays a stage's COPY steps into `root` (the image's / as a folder): a folder's content
 * goes into the destination, a file into it when it is a folder. `stageRoots` maps the
 * stages copied from to their folders; the deps stage's node_modules is made separately.
 */
async function replayCopies(s: Stage, root: string, stageRoots: Record<string, string> = {}) {
  for (const step of copySteps(s)) {
    if (step.from === 'deps') continue;
    for (const source of step.sources) {
      const from = step.from === null ? path.join(ROOT, source) : path.join(stageRoots[step.from]!, source);
      const isDir = (await stat(from)).isDirectory();
      const dest = path.join(root, step.dest, !isDir && step.intoDir ? path.basename(source) : '');
      await mkdir(path.dirname(dest), { recursive: true });
      await cp(from, dest, { recursive: true });
    }
  }
}

/** `n` ports free a moment ago, all different. */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let i = 0; i < n * 10 && ports.size < n; i++) ports.add(await freePort());
  return [...ports];
}

describe('infra/docker/Dockerfile, replayed outside Docker', () => {
  let tmp: string;
  let buildRoot: string;
  let runtimeRoot: string;
  let dbName: string;
  const prefix = testPrefix('image');
  let env: Record<string, string>;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'procurator-image-'));
    buildRoot = path.join(tmp, 'build-stage');
    runtimeRoot = path.join(tmp, 'runtime-stage');
    dbName = `procurator_t_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      // Empty, not copied from the migrated template: the image's migrate must do the work.
      await admin.query(`CREATE DATABASE ${dbName}`);
    } finally {
      await admin.end();
    }
    env = {
      DATABASE_URL: pgUrlFor(dbName),
      QUEUE_BACKEND: 'redis',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      SERVER_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    };
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
    await clearPrefix(prefix);
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  });

  it('the build stage: its COPYs hold everything `npm run build` needs', async () => {
    await replayCopies(stage('build'), buildRoot);
    // npm ci's result: the repository's node_modules.
    await symlink(path.join(ROOT, 'node_modules'), path.join(buildRoot, 'src/node_modules'), 'dir');
    await run('npm', ['run', 'build'], { cwd: path.join(buildRoot, 'src'), timeout: 60_000 });
    const bundle = await readFile(path.join(buildRoot, 'src/dist/procurator.js'), 'utf8');
    expect(bundle.length).toBeGreaterThan(100_000);
  });

  it('the bundle imports only declared production dependencies', async () => {
    const bundle = await readFile(path.join(buildRoot, 'src/dist/procurator.js'), 'utf8');
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    // A specifier is a package name (no spaces, no punctuation but @ . / - _): a log message
    // ending in "from" followed by a quote is not an import.
    for (const m of bundle.matchAll(
      /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([@a-z][\w@./-]*)["']/g,
    )) {
      const spec = m[1]!;
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      const parts = spec.split('/');
      imported.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
    }
    expect(imported.size).toBeGreaterThan(5);
    for (const name of imported) expect(Object.keys(pkg.dependencies), name).toContain(name);
  });

  it('the runtime stage: the command, migrate and bootstrap run from its layout, with production modules only', async () => {
    await replayCopies(stage('runtime'), runtimeRoot, { build: buildRoot });
    const app = path.join(runtimeRoot, 'app');
    const linked = await productionModules(ROOT, path.join(app, 'node_modules'));
    expect(linked).not.toContain('vitest');
    expect(linked).not.toContain('esbuild');
    const entry = execForm(lastOf(stage('runtime'), 'ENTRYPOINT')!);
    const cli = (args: string[], extra: Record<string, string> = {}) =>
      run(entry[0] === 'node' ? process.execPath : entry[0]!, [...entry.slice(1), ...args], {
        cwd: app,
        env: { PATH: process.env.PATH ?? '', ...env, ...extra },
        timeout: 30_000,
      });
    expect((await cli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    await cli(['migrate']);
    const boot = await cli(['bootstrap', '--secrets-dir', path.join(tmp, 'secrets')]);
    expect(boot.stdout).toContain('Created admin user "admin"');
  });

  it('HEALTHCHECK passes against serve and against a worker, and fails when neither answers', async () => {
    const app = path.join(runtimeRoot, 'app');
    const [servePort, workerPort, closedPort] = (await freePorts(3)) as [number, number, number];
    const entry = execForm(lastOf(stage('runtime'), 'ENTRYPOINT')!);
    const start = (command: string, extra: Record<string, string>) =>
      spawn(process.execPath, [...entry.slice(1), command], {
        cwd: app,
        env: { PATH: process.env.PATH ?? '', ...env, ...extra },
        stdio: 'ignore',
      });
    const hc = healthcheck().command;
    const check = (ports: Record<string, string>) =>
      run(hc[0] === 'node' ? process.execPath : hc[0]!, hc.slice(1), {
        env: { PATH: process.env.PATH ?? '', ...ports },
        timeout: 10_000,
      }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
    const serve = start('serve', { SERVER_PORT: String(servePort) });
    const worker = start('worker', { WORKER_METRICS_PORT: String(workerPort) });
    try {
      const deadline = Date.now() + 20_000;
      const both = { SERVER_PORT: String(servePort), WORKER_METRICS_PORT: String(workerPort) };
      let serveOk = 1;
      let workerOk = 1;
      while (Date.now() < deadline && (serveOk !== 0 || workerOk !== 0)) {
        serveOk = await check({ ...both, WORKER_METRICS_PORT: String(closedPort) });
        workerOk = await check({ ...both, SERVER_PORT: String(closedPort) });
        if (serveOk !== 0 || workerOk !== 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(serveOk, 'serve').toBe(0);
      expect(workerOk, 'worker').toBe(0);
      expect(await check({ SERVER_PORT: String(closedPort), WORKER_METRICS_PORT: String(closedPort) })).toBe(
        1,
      );
    } finally {
      serve.kill('SIGTERM');
      worker.kill('SIGTERM');
      await Promise.all(
        [serve, worker].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
              c.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
            }),
        ),
      );
    }
  });
});
