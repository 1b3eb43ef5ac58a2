// Bundles the command-line entry (serve, worker, migrate, ...) and the benchmark into dist/.
// Dependencies stay external: they are installed next to dist/ by `npm ci`.
import { build } from 'esbuild';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

/** `import text from './x.lua?raw'` — the same suffix Vite understands in tests. */
const rawText = {
  name: 'raw-text',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'raw-text',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

const entryPoints = { procurator: 'bin/procurator.ts' };
for (const [name, file] of [
  ['bench', 'bench/main.ts'],
  ['bench-retention', 'bench/retention/main.ts'],
  // Two builds' submit throughput in turns (README "Tracing").
  ['bench-submit', 'bench/submit-compare.ts'],
  // What the live tail's trigger costs task ends (README "Live tail").
  ['bench-log-tail', 'bench/log-tail/main.ts'],
  // How close tasks held back by a concurrency limit come to it (README "Flow control").
  ['bench-flow', 'bench/flow/main.ts'],
]) {
  try {
    await readFile(file);
    entryPoints[name] = file;
  } catch {
    // no such benchmark yet
  }
}

const shared = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  plugins: [rawText],
};

await build({ ...shared, entryPoints, outdir: 'dist' });

// The typed API client, package export `procurator/client` (README, "The typed client"): Web
// APIs and jose only, so no Node require shim.
await build({ ...shared, banner: undefined, entryPoints: { client: 'client/index.ts' }, outdir: 'dist' });

// The web console's script and style sheet (README, "Web console"), served by the API from
// dist/console/ (compose/console-assets.ts): for browsers, minified, no dependency.
await build({
  entryPoints: [
    'handlers/console/browser/console.ts',
    'handlers/console/browser/console.css',
    'handlers/console/browser/favicon.svg',
  ],
  loader: { '.svg': 'copy' },
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  minify: true,
  logLevel: 'warning',
  outdir: 'dist/console',
  tsconfig: 'handlers/console/browser/tsconfig.json',
});

// The benchmark runs each measured peer in a process of its own: bench/**/*-child.ts, one
// bundle each, in dist/bench-children/.
const children = [];
for (const dir of ['bench/load', 'bench/peers', 'bench/procurator', 'bench/retention']) {
  try {
    for (const f of await readdir(dir)) if (f.endsWith('-child.ts')) children.push(path.join(dir, f));
  } catch {
    // folder absent
  }
}
if (children.length > 0) {
  await build({
    ...shared,
    entryPoints: Object.fromEntries(children.map((c) => [path.basename(c, '.ts'), c])),
    outdir: 'dist/bench-children',
    outExtension: { '.js': '.mjs' },
  });
}
