import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openPglite } from '../lib/db/client';
import { migratePgliteDatabase, migratePostgres } from '../lib/db/migrate';
import { PG_ADMIN_URL, pgUrlFor } from './helpers/pg-urls';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated PGlite data directory (tar), so each test file skips initdb. */
    pgliteSnapshot: string;
    /** A migrated PostgreSQL database that test databases are copied from. */
    pgTemplate: string | null;
  }
}

/**
 * Once per run: build dist/ (process tests run the real bundle), make a migrated PGlite
 * snapshot, and a migrated PostgreSQL template database when PostgreSQL is reachable.
 * Teardown removes both.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });

  const dir = await mkdtemp(path.join(tmpdir(), 'procurator-test-'));
  const snapshotDb = await openPglite(undefined);
  await migratePgliteDatabase(snapshotDb);
  const client = (snapshotDb.db as unknown as { $client: { dumpDataDir(c: 'none'): Promise<Blob> } }).$client;
  const snapshot = path.join(dir, 'pglite.tar');
  await writeFile(snapshot, Buffer.from(await (await client.dumpDataDir('none')).arrayBuffer()));
  await snapshotDb.close();
  project.provide('pgliteSnapshot', snapshot);

  let template: string | null = `procurator_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${template}`);
    await migratePostgres(pgUrlFor(template));
  } catch (err) {
    if (process.env.CI) throw err;
    console.warn(`PostgreSQL unavailable; integration tests will fail: ${String(err)}`);
    template = null;
  } finally {
    await admin.end().catch(() => undefined);
  }
  project.provide('pgTemplate', template);

  return async () => {
    await rm(dir, { recursive: true, force: true });
    if (!template) return;
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => undefined);
    await c.end();
  };
}
