import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Whether a program is on PATH. Tests of infra/ need promtool, amtool, prometheus and
 * docker-compose, which .ci/run installs: in CI a missing one fails its tests; elsewhere
 * they are skipped, saying which program is missing.
 */
export function onPath(program: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this one
    }
  }
  return false;
}

/** True when the tests needing `programs` should be skipped (not CI, and one is missing). */
export function skipWithout(...programs: string[]): boolean {
  const missing = programs.filter((p) => !onPath(p));
  if (missing.length === 0 || process.env.CI) return false;
  console.warn(`skipped: ${missing.join(', ')} not on PATH (.ci/run installs them)`);
  return true;
}
