import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Database } from '../../lib/db/client';
import { openPostgres } from '../../lib/db/client';
import { migratePostgres } from '../../lib/db/migrate';
import { silentLogger } from '../../lib/logger';

/** A migrated PostgreSQL database of its own for one measurement, dropped afterwards. */
export interface BenchDatabase {
  database: Database;
  drop(): Promise<void>;
}

export async function benchDatabase(adminUrl: string, poolSize = 20): Promise<BenchDatabase> {
  const name = `procurator_bench_ret_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migratePostgres(url.toString());
  const database = openPostgres(url.toString(), poolSize, silentLogger());
  return {
    database,
    async drop() {
      await database.close();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
