import pg from 'pg';
import { backoffDelay } from '../backoff';
import type { Backoff } from '../backoff';
import type { Logger } from '../logger';

/** What a LISTEN tells its owner. */
export interface NotificationHandlers {
  /** A notification arrived on the channel. */
  notify(): void;
  /**
   * The connection came back after it was lost: notifications sent meanwhile are gone, so the
   * owner reads what it may have missed.
   */
  reconnected(): void;
}

/** A LISTEN that lasts until closed. */
export interface NotificationSubscription {
  close(): Promise<void>;
}

const RECONNECT: Backoff = { baseMs: 100, maxMs: 5000, jitter: 'none' };

/**
 * LISTEN on a PostgreSQL connection of its own: a session keeps its LISTENs, and a pooled
 * connection goes back to the pool after each query. Opening it fails when the database does
 * not answer; once open, a lost connection is reopened (with the one backoff) until close(),
 * and `reconnected` is called on each return.
 */
export async function listenPostgres(
  url: string,
  channel: string,
  handlers: NotificationHandlers,
  logger: Logger,
): Promise<NotificationSubscription> {
  let closed = false;
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      connectionString: url,
      application_name: 'procurator-listen',
      connectionTimeoutMillis: 5000,
      // A half-open connection (a server gone without a FIN) is noticed by TCP keep-alive.
      keepAlive: true,
    });
    c.on('notification', (m) => {
      if (m.channel === channel) handlers.notify();
    });
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    try {
      await c.connect();
      await c.query(`LISTEN "${channel}"`);
    } catch (err) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
      throw err;
    }
    return c;
  };

  const lost = (c: pg.Client, err?: Error) => {
    if (closed || c !== client) return;
    client = undefined;
    c.removeAllListeners('end');
    void c.end().catch(() => undefined);
    logger.warn({ err, channel }, 'LISTEN connection lost; reconnecting');
    retry();
  };

  const retry = () => {
    if (closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().then(
        (c) => {
          if (closed) {
            void c.end().catch(() => undefined);
            return;
          }
          client = c;
          failures = 0;
          logger.info({ channel }, 'LISTEN connection back');
          handlers.reconnected();
        },
        (err: unknown) => {
          failures++;
          if (failures === 1) logger.warn({ err, channel }, 'LISTEN reconnect failed; retrying');
          retry();
        },
      );
    }, backoffDelay(failures + 1, RECONNECT));
  };

  client = await connect();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = client;
      client = undefined;
      if (c) {
        c.removeAllListeners('end');
        await c.end().catch(() => undefined);
      }
    },
  };
}
