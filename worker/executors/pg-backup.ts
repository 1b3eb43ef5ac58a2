import path from 'node:path';
import { runPgDump } from '../../lib/backup/pg-dump';
import { applyRetention } from '../../lib/backup/retention';
import { pgBackupPayload } from '../../lib/catalog/pg-backup-type';
import { PermanentTaskError } from '../../lib/errors';
import type { Executor } from './executor';

export interface PgBackupExecutorOptions {
  /** Target name → postgres:// URL (BACKUP_TARGETS). */
  targets: Record<string, string>;
  /** BACKUP_DIR; each target gets a sub-directory. */
  backupDir: string;
  /** BACKUP_KEEP: completed backups kept per target. */
  keep: number;
  pgDumpPath?: string;
  /** Between SIGTERM and SIGKILL when the attempt is aborted; tests shorten it. */
  killGraceMs?: number;
  now?: () => Date;
}

/** What the log may say about a target: never the URL, whose userinfo holds the password. */
function describeTarget(url: string): { host?: string; database?: string } {
  try {
    const u = new URL(url);
    return { host: u.host || undefined, database: decodeURIComponent(u.pathname.slice(1)) || undefined };
  } catch {
    return {};
  }
}

/** pg.backup: dumps the named target, then prunes its old backups. */
export function createPgBackupExecutor(opts: PgBackupExecutorOptions): Executor {
  // Resolved once, so the result names the file wherever the worker's cwd later is.
  const backupDir = path.resolve(opts.backupDir);
  const schema = pgBackupPayload(Object.keys(opts.targets));

  return async ({ task, signal, logger }) => {
    // The worker validated the payload against the catalog; parsing again applies the
    // default format and guards against a catalog built from other targets than ours.
    const parsed = schema.safeParse(task.payload);
    if (!parsed.success) {
      throw new PermanentTaskError(
        `Invalid pg.backup payload: ${parsed.error.issues[0]?.message}`,
        'invalid_payload',
      );
    }
    const { target, format } = parsed.data;
    const url = opts.targets[target];
    if (url === undefined)
      throw new PermanentTaskError(`Unknown backup target "${target}".`, 'unknown_target');

    const log = logger.child({ target, format });
    log.info(describeTarget(url), 'pg.backup started');
    const dump = await runPgDump({
      target,
      url,
      format,
      backupDir,
      signal,
      pgDumpPath: opts.pgDumpPath,
      killGraceMs: opts.killGraceMs,
      now: opts.now,
    });
    if (dump.stderr) log.warn({ stderr: dump.stderr }, 'pg_dump succeeded with warnings');

    // A failed prune does not fail the task: the backup exists, and failing would make the
    // worker retry and write yet another one. The warning is what operators act on.
    const dir = path.dirname(dump.file);
    try {
      const kept = await applyRetention(dir, target, opts.keep, path.basename(dump.file));
      if (kept.failed.length)
        log.warn({ failed: kept.failed }, 'pg.backup could not delete some old backups');
      if (kept.deleted.length) log.info({ deleted: kept.deleted }, 'pg.backup deleted old backups');
    } catch (err) {
      log.warn({ err }, 'pg.backup retention failed');
    }

    const result = { file: dump.file, bytes: dump.bytes, sha256: dump.sha256, durationMs: dump.durationMs };
    log.info(result, 'pg.backup finished');
    return result;
  };
}
