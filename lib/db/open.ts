import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Database } from './client';
import { openPglite, openPostgres } from './client';
import { migratePgliteDatabase, pendingMigrations } from './migrate';

/**
 * The database named by the configuration: PostgreSQL when DATABASE_URL is set (its schema
 * must be migrated with `procurator migrate`), else the embedded PGlite database in
 * DATA_DIR, migrated here because nobody else can reach it.
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
  const dir = path.resolve(config.DATA_DIR, 'db');
  const database = await openPglite(dir);
  await migratePgliteDatabase(database);
  logger.info({ dir }, 'embedded database ready');
  return database;
}
