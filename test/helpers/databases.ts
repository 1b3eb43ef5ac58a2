import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import type { Database } from '../../lib/db/client';
import { openPglite, openPostgres } from '../../lib/db/client';
import { silentLogger } from '../../lib/logger';
import { PG_ADMIN_URL, pgUrlFor } from './pg-urls';

/** A fresh embedded database, migrated (loaded from the run's snapshot). */
export async function openTestPglite(): Promise<Database> {
  const tar = await readFile(inject('pgliteSnapshot'));
  return openPglite(undefined, new Blob([tar]));
}

export interface TestPostgres {
  name: string;
  url: string;
  open(poolSize?: number): Database;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database for one test file, copied from the migrated template. */
export async function createTestPostgres(): Promise<TestPostgres> {
  const template = inject('pgTemplate');
  if (!template) throw new Error('PostgreSQL is not reachable at ' + PG_ADMIN_URL);
  const name = `procurator_t_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = pgUrlFor(name);
  const opened: Database[] = [];
  return {
    name,
    url,
    open(poolSize = 10) {
      const db = openPostgres(url, poolSize, silentLogger());
      opened.push(db);
      return db;
    },
    async drop() {
      await Promise.all(opened.map((d) => d.close().catch(() => undefined)));
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
