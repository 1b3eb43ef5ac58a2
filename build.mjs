// Bundles the command-line entry (serve, worker, migrate, ...) and the benchmark into dist/.
// Dependencies stay external: they are installed next to dist/ by `npm ci`.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
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
try {
  await readFile('bench/main.ts');
  entryPoints.bench = 'bench/main.ts';
} catch {
  // no benchmark yet
}

await build({
  entryPoints,
  outdir: 'dist',
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
});
