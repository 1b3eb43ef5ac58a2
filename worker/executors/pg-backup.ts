import path from 'node:path';
import { runPgDump } from '../../lib/backup/pg-dump';
import { applyRetention } from '../../lib/backup/retention';
import { pgBackupPayload } from '../../lib/catalog/pg-backup-payload';
import { defineTaskType } from '../../lib/catalog/task-type';
import { PermanentTaskError } from '../../lib/errors';

/** What the log may say about a target: never the URL, whose userinfo holds the password. */
function describeTarget(url: string): { host?: string; database?: string } {
  try {
    const u = new URL(url);
    return { host: u.host || undefined, database: decodeURIComponent(u.pathname.slice(1)) || undefined };
  } catch {
    return {};
  }
}

/**
 * pg.backup: pg_dump of one configured target into BACKUP_DIR/<target>/, then the target's
 * old backups pruned. It reads production databases, so only ops may submit it by default.
 */
export function pgBackupTaskType(targetNames: readonly string[]) {
  return defineTaskType({
    type: 'pg.backup',
    description:
      'Runs pg_dump for payload.target (a name from BACKUP_TARGETS) in payload.format (custom, plain or tar; default custom) into BACKUP_DIR/<target>/, keeping the BACKUP_KEEP newest backups.',
    payload: pgBackupPayload(targetNames),
    minRole: 'ops',
    // A dump of a large database takes a while; connection failures retry with backoff.
    defaults: { timeoutMs: 60 * 60 * 1000, maxAttempts: 3 },
    async execute({ task, signal, logger }, { backups }) {
      const { target, format } = task.payload;
      const url = backups.targets[target];
      if (url === undefined)
        throw new PermanentTaskError(`Unknown backup target "${target}".`, 'unknown_target');

      const log = logger.child({ target, format });
      log.info(describeTarget(url), 'pg.backup started');
      const dump = await runPgDump({
        target,
        url,
        format,
        // Resolved here, so the result names the file wherever the worker's cwd is.
        backupDir: path.resolve(backups.dir),
        signal,
        pgDumpPath: backups.pgDumpPath,
        killGraceMs: backups.killGraceMs,
        now: backups.now,
      });
      if (dump.stderr) log.warn({ stderr: dump.stderr }, 'pg_dump succeeded with warnings');

      // A failed prune does not fail the task: the backup exists, and failing would make the
      // worker retry and write yet another one. The warning is what operators act on.
      const dir = path.dirname(dump.file);
      try {
        const kept = await applyRetention(dir, target, backups.keep, path.basename(dump.file));
        if (kept.failed.length)
          log.warn({ failed: kept.failed }, 'pg.backup could not delete some old backups');
        if (kept.deleted.length) log.info({ deleted: kept.deleted }, 'pg.backup deleted old backups');
      } catch (err) {
        log.warn({ err }, 'pg.backup retention failed');
      }

      const result = { file: dump.file, bytes: dump.bytes, sha256: dump.sha256, durationMs: dump.durationMs };
      log.info(result, 'pg.backup finished');
      return result;
    },
  });
}
