import { readdir, unlink } from 'node:fs/promises';
import path from 'node:path';

export const PG_DUMP_FORMATS = ['custom', 'plain', 'tar'] as const;
export type PgDumpFormat = (typeof PG_DUMP_FORMATS)[number];

const EXTENSIONS: Record<PgDumpFormat, string> = { custom: 'dump', plain: 'sql', tar: 'tar' };

/**
 * Target names become directory and file names, so they are kept to a portable alphabet.
 * Starting with a letter or digit rules out ".", ".." and hidden names, which are reserved
 * for temporary files.
 */
export const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * `<target>-<UTC timestamp>.<ext>`, e.g. `main-20250102T030405.678Z.dump`. The timestamp is
 * fixed-width, so names of one target sort by time; milliseconds keep two backups started in
 * the same second apart. Retention reads this format back: change both together.
 */
export function backupFileName(target: string, format: PgDumpFormat, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '');
  return `${target}-${stamp}.${EXTENSIONS[format]}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The timestamp of a completed backup of `target`, or null for any other name. */
export function backupTimestamp(target: string, fileName: string): string | null {
  const pattern = new RegExp(`^${escapeRegExp(target)}-(\\d{8}T\\d{6}\\.\\d{3}Z)\\.(?:dump|sql|tar)$`);
  return pattern.exec(fileName)?.[1] ?? null;
}

export interface RetentionResult {
  kept: string[];
  deleted: string[];
  /** Files that could not be deleted, with why; the backup itself still succeeded. */
  failed: { file: string; error: string }[];
}

/**
 * Keeps the `keep` newest completed backups of `target` in `dir` and deletes the rest.
 * Temporary files (hidden, `.partial`) and anything not named like this target's backups
 * are never touched, so a dump running concurrently and other targets are safe. `protect`
 * is never deleted even if a clock step made it look older than others.
 */
export async function applyRetention(
  dir: string,
  target: string,
  keep: number,
  protect?: string,
): Promise<RetentionResult> {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be an integer ≥ 1, got ${keep}`);
  const entries = await readdir(dir, { withFileTypes: true });
  const backups = entries
    .filter((e) => e.isFile())
    .map((e) => ({ name: e.name, stamp: backupTimestamp(target, e.name) }))
    .filter((b): b is { name: string; stamp: string } => b.stamp !== null)
    // Newest first; equal stamps (two formats at the same instant) fall back to the name.
    .sort((a, b) => b.stamp.localeCompare(a.stamp) || b.name.localeCompare(a.name));

  const result: RetentionResult = { kept: [], deleted: [], failed: [] };
  for (const [i, b] of backups.entries()) {
    if (i < keep || b.name === protect) {
      result.kept.push(b.name);
      continue;
    }
    try {
      await unlink(path.join(dir, b.name));
      result.deleted.push(b.name);
    } catch (err) {
      // Another task's retention got there first: that is the outcome we wanted.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') result.deleted.push(b.name);
      else result.failed.push({ file: b.name, error: (err as Error).message });
    }
  }
  return result;
}
