import { sql } from 'drizzle-orm';
import { fsyncSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { openPglite } from '../../lib/db/client';

/** fsync(2) that also records which file each call synced. */
function recordingFsync() {
  const synced: string[] = [];
  return {
    synced,
    fsync(fd: number) {
      synced.push(readlinkSync(`/proc/self/fd/${fd}`));
      fsyncSync(fd);
    },
  };
}

describe('the embedded database on disk', () => {
  let dir: string;
  let database: Database;
  const rec = recordingFsync();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'procurator-fsync-'));
    database = await openPglite(path.join(dir, 'db'), undefined, (fd) => rec.fsync(fd));
  });
  afterAll(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs Postgres with fsync on, the WAL synced by fsync', async () => {
    const [settings] = await database.rows<{ fsync: string; method: string }>(
      sql`SELECT current_setting('fsync') AS fsync, current_setting('wal_sync_method') AS method`,
    );
    expect(settings).toEqual({ fsync: 'on', method: 'fsync' });
  });

  it('syncs a freshly created data directory, catalog and all', () => {
    expect(rec.synced).toContain(path.join(dir, 'db', 'PG_VERSION'));
    expect(rec.synced).toContain(path.join(dir, 'db', 'global', 'pg_control'));
  });

  it('syncs the WAL to disk before a COMMIT returns', async () => {
    await database.rows(sql`CREATE TABLE t (x int)`);
    rec.synced.length = 0;
    await database.rows(sql`BEGIN`);
    await database.rows(sql`INSERT INTO t VALUES (1)`);
    expect(rec.synced).toEqual([]);
    await database.rows(sql`COMMIT`);
    expect(rec.synced.some((f) => f.startsWith(path.join(dir, 'db', 'pg_wal') + path.sep))).toBe(true);
  });
});
