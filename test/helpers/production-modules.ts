import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * A node_modules holding what `npm ci --omit=dev` installs at its top level: every package of
 * package-lock.json not marked dev, linked from the repository's node_modules. Code run next
 * to it finds no development dependency, as in the image's runtime stage.
 */
export async function productionModules(repoRoot: string, target: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const linked: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    // Top level only: nested ones live inside their (linked) parents.
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
    if (!m || entry.dev) continue;
    const source = path.join(repoRoot, 'node_modules', m[1]!);
    // Optional packages for other platforms are in the lock but not installed.
    if (!existsSync(source)) continue;
    const dest = path.join(target, m[1]!);
    await mkdir(path.dirname(dest), { recursive: true });
    await symlink(source, dest, 'dir');
    linked.push(m[1]!);
  }
  return linked;
}
