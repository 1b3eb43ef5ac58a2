import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Database } from './client';

/** The committed migrations, found by walking up from this module (source tree or dist/). */
export function migrationsFolder(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'drizzle', 'migrations');
    if (existsSync(path.join(candidate, 'meta', '_journal.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('drizzle/migrations not found next to the installed code');
}

// Any fixed number: every `procurator migrate` takes the same advisory lock, so two of them
// started at once run one after the other instead of racing on CREATE TABLE.
const MIGRATION_LOCK = 7_240_411;

/** Applies pending migrations to a PostgreSQL URL on one dedicated connection, under a lock. */
export async function migratePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'procurator-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await migratePg(drizzlePg(client), { migrationsFolder: migrationsFolder() });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end();
  }
}

/** Applies pending migrations to the embedded database (single process: no lock needed). */
export async function migratePgliteDatabase(database: Database): Promise<void> {
  if (database.kind !== 'pglite') throw new Error('migratePgliteDatabase needs the embedded database');
  await migratePglite(database.db as unknown as PgliteDatabase, { migrationsFolder: migrationsFolder() });
}

/** How many committed migrations the database has not applied yet. */
export async function pendingMigrations(database: Database): Promise<number> {
  const files = readMigrationFiles({ migrationsFolder: migrationsFolder() });
  let applied = 0;
  try {
    // drizzle's own bookkeeping table
    const rows = await database.rows<{ n: number }>(
      sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
    );
    applied = rows[0]?.n ?? 0;
  } catch {
    applied = 0;
  }
  return Math.max(0, files.length - applied);
}
