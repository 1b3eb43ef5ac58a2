import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsoleAssets } from '../handlers/console';

/**
 * The folder build.mjs writes the console's script and style sheet to: `console/` next to the
 * bundle (dist/procurator.js → dist/console/), or `dist/console/` of the source tree (tests run
 * the sources; their global setup builds dist/ first). Null when neither is built.
 */
export function consoleAssetsDir(from = path.dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    for (const candidate of [path.join(dir, 'console'), path.join(dir, 'dist', 'console')]) {
      if (existsSync(path.join(candidate, 'console.js'))) return candidate;
    }
    dir = path.dirname(dir);
  }
  return null;
}

/** Reads each asset once, from the package's own files (no CDN). */
export function fileConsoleAssets(dir: string | null = consoleAssetsDir()): ConsoleAssets {
  const cache = new Map<string, Promise<Uint8Array | null>>();
  return (name) => {
    let bytes = cache.get(name);
    if (!bytes) {
      bytes = dir
        ? readFile(path.join(dir, name)).then(
            (b) => new Uint8Array(b),
            () => null,
          )
        : Promise.resolve(null);
      cache.set(name, bytes);
    }
    return bytes;
  };
}
