import type { Logger } from '../logger';
import { findPgDumpDeathHelper } from './pg-dump';
import { sweepStalePartials } from './sweep-stale-partials';
import type { SweepResult } from './sweep-stale-partials';

export interface PrepareBackupsOptions {
  /** BACKUP_DIR. */
  backupDir: string;
  /** The names of BACKUP_TARGETS. */
  targets: readonly string[];
  logger: Logger;
  /** Finds setpriv; tests replace it. */
  findDeathHelper?: () => Promise<string | null>;
}

/**
 * What a worker does about pg.backup when it starts, before it takes tasks: says once if
 * pg_dump would outlive a hard kill of this worker (setpriv missing; backups still run),
 * and removes the temporary files that dumps of killed workers left behind.
 */
export async function prepareBackups(o: PrepareBackupsOptions): Promise<SweepResult> {
  if (o.targets.length === 0) return { removed: [], live: [], failed: [] };
  if ((await (o.findDeathHelper ?? findPgDumpDeathHelper)()) === null)
    o.logger.warn(
      'setpriv (util-linux) is not on PATH: a pg_dump survives a worker killed with SIGKILL until it ends by itself',
    );
  return sweepStalePartials(o);
}
