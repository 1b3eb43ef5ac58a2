import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Database } from './client';
import { openPglite, openPostgres } from './client';
import { lockDataDir } from './data-dir-lock';
import type { DataDirLock } from './data-dir-lock';
import { migratePgliteDatabase, pendingMigrations } from './migrate';

/**
 * The database named by the configuration: PostgreSQL when DATABASE_URL is set (its schema
 * must be migrated with `procurator migrate`), else the embedded PGlite database in
 * DATA_DIR, migrated here because nobody else can reach it: DATA_DIR is locked for this
 * process until the database is closed, and a second process is refused at once
 * (DataDirInUseError).
 */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.DATABASE_URL) {
    const database = openPostgres(config.DATABASE_URL, config.DATABASE_POOL_SIZE, logger);
    try {
      const pending = await pendingMigrations(database);
      if (pending > 0) {
        throw new Error(`the database lacks ${pending} migration(s): run \`procurator migrate\` first`);
      }
    } catch (err) {
      await database.close();
      throw err;
    }
    return database;
  }
  // Taken before PGlite opens a file: a second process stops here, before it can read or
  // write a page under the first one.
  const lock = await lockDataDir(config.DATA_DIR);
  const dir = path.resolve(lock.dir, 'db');
  let database: Database | undefined;
  try {
    database = await openPglite(dir);
    await migratePgliteDatabase(database);
  } catch (err) {
    await database?.close().catch(() => undefined);
    lock.release();
    throw err;
  }
  logger.info({ dir }, 'embedded database ready');
  return releasingOnClose(database, lock);
}

/** `database`, whose close() gives up DATA_DIR once PGlite has closed (or failed to). */
function releasingOnClose(database: Database, lock: DataDirLock): Database {
  let closing: Promise<void> | undefined;
  return {
    ...database,
    close() {
      closing ??= database.close().finally(() => lock.release());
      return closing;
    },
  };
}

/**
 * Where the reads that may lag go (README "Beyond one PostgreSQL"): task lists, the DLQ list,
 * the logs and the gauges' counts. A pool of its own on DATABASE_READ_URL (a streaming
 * replica, say), else the primary itself. Everything that must see its own writes (a task by
 * id, its events, every change) stays on the primary.
 */
export function openReadDatabase(config: Config, logger: Logger, primary: Database): Database {
  if (!config.DATABASE_READ_URL) return primary;
  logger.info('lists, the DLQ list and the logs are read from DATABASE_READ_URL');
  return openPostgres(config.DATABASE_READ_URL, config.DATABASE_POOL_SIZE, logger);
}
