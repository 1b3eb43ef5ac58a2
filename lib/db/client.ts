import { PGlite } from '@electric-sql/pglite';
import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { fsyncSync } from 'node:fs';
import pg from 'pg';
import * as schema from '../../drizzle/schema';
import { QueryTimeoutError } from '../errors';
import type { Logger } from '../logger';
import { createDurablePglite } from './durable-pglite';
import { listenPostgres } from './pg-listener';
import type { NotificationHandlers, NotificationSubscription } from './pg-listener';
import { isQueryCanceled } from './query-canceled';

/** The drizzle database, whichever driver is behind it. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A database connection: a pg pool for PostgreSQL, or one embedded PGlite instance. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Db;
  /** Runs raw SQL and returns its rows (both drivers answer `{rows}`). */
  rows<T = Record<string, unknown>>(query: SQL): Promise<T[]>;
  /**
   * Runs a read that the database server itself stops after `timeoutMs`, throwing
   * QueryTimeoutError: for reads whose cost depends on how much is stored (lists, logs).
   * PGlite accepts statement_timeout but never enforces it (no timer signals in WebAssembly),
   * so there this is rows().
   */
  rowsWithin<T = Record<string, unknown>>(query: SQL, timeoutMs: number): Promise<T[]>;
  /**
   * Runs a fixed statement with $1… parameters as a named prepared statement: each connection
   * parses and plans it once, not on every call. For the worker's hottest statements, whose
   * planning otherwise costs more than running them on a batch.
   */
  prepared<T = Record<string, unknown>>(name: string, text: string, values: unknown[]): Promise<T[]>;
  /**
   * LISTENs on `channel` until the subscription is closed: on PostgreSQL over a connection of
   * its own (one per call: the caller shares it), on PGlite in its one session.
   */
  listen(channel: string, handlers: NotificationHandlers): Promise<NotificationSubscription>;
  /** Throws when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  /** Closes the pool or the embedded database; safe to call twice. */
  close(): Promise<void>;
}

async function execute<T>(db: Pick<Db, 'execute'>, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (result as { rows: T[] }).rows;
}

/**
 * `query` in a read-only transaction under SET LOCAL statement_timeout. The client's own
 * query_timeout only stops waiting: the server would go on scanning, holding the pooled
 * connection. statement_timeout makes the server cancel the statement (57014); the rollback
 * then ends the setting with the transaction, and the connection goes back to the pool clean.
 */
async function rowsWithinTimeout<T>(db: Db, query: SQL, timeoutMs: number): Promise<T[]> {
  try {
    return await db.transaction(
      async (tx) => {
        await tx.execute(sql`SELECT set_config('statement_timeout', ${String(timeoutMs)}, true)`);
        return execute<T>(tx, query);
      },
      { accessMode: 'read only' },
    );
  } catch (err) {
    if (isQueryCanceled(err)) throw new QueryTimeoutError(timeoutMs);
    throw err;
  }
}

function wrap(
  kind: Database['kind'],
  db: Db,
  prepared: Database['prepared'],
  listen: Database['listen'],
  closeClient: () => Promise<void>,
): Database {
  let closing: Promise<void> | undefined;
  const rows = <T>(query: SQL) => execute<T>(db, query);
  return {
    kind,
    db,
    prepared,
    listen,
    rows,
    rowsWithin: kind === 'postgres' ? (query, timeoutMs) => rowsWithinTimeout(db, query, timeoutMs) : rows,
    async ping() {
      await db.execute(sql`select 1`);
    },
    close() {
      closing ??= closeClient();
      return closing;
    },
  };
}

/** A pg pool on `url`. Idle-client errors (a restarted server) are logged, never fatal. */
export function openPostgres(url: string, poolSize: number, logger: Logger): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    // A statement stuck on a dead server must not hold a worker slot forever.
    query_timeout: 60000,
    application_name: 'procurator',
    // Timestamps come back as text in raw queries; UTC keeps their offset predictable.
    options: '-c TimeZone=UTC',
  });
  pool.on('error', (err) => logger.warn({ err }, 'idle PostgreSQL connection failed'));
  return wrap(
    'postgres',
    drizzlePg(pool, { schema }),
    async <T>(name: string, text: string, values: unknown[]) =>
      (await pool.query({ name, text, values })).rows as T[],
    (channel, handlers) => listenPostgres(url, channel, handlers, logger),
    () => pool.end(),
  );
}

/**
 * The embedded database: PGlite in `dataDir`, synced to disk on every commit through `fsync`,
 * or in memory when `dataDir` is undefined. `loadDataDir` starts an in-memory one from a
 * snapshot (tests use a migrated one to skip initdb). The caller holds the directory's lock.
 */
export async function openPglite(
  dataDir: string | undefined,
  loadDataDir?: Blob,
  fsync: (fd: number) => void = fsyncSync,
): Promise<Database> {
  const client = dataDir
    ? await createDurablePglite(dataDir, fsync)
    : await PGlite.create(loadDataDir ? { loadDataDir } : {});
  await client.exec('SET TIME ZONE UTC');
  return wrap(
    'pglite',
    drizzlePglite({ client, schema }),
    async <T>(_name: string, text: string, values: unknown[]) => (await client.query<T>(text, values)).rows,
    // One session: its own notifications reach it after each commit; it never loses them.
    async (channel, handlers) => {
      const unlisten = await client.listen(channel, () => handlers.notify());
      return { close: () => unlisten() };
    },
    () => client.close(),
  );
}
