import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that can lose one reply: armed with a prepared statement's
 * name, it lets the next statement that names it run and commit on the server, then cuts the
 * connection before the client sees the answer — the "commit succeeded, reply lost" case a
 * retrying writer must recognise. It waits for the server's ReadyForQuery ('Z') after the
 * statement, which PostgreSQL sends only once the implicit transaction has committed.
 */
export class PgReplyDropper {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private armed: string | null = null;
  /** How many replies were dropped so far. */
  dropped = 0;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    const server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    return this.port;
  }

  /** Drops the reply to the next execution of the prepared statement `name`. */
  arm(name: string): void {
    this.armed = name;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    let dropping = false;
    let held = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (this.armed !== null && chunk.includes(Buffer.from(`${this.armed}\0`))) {
        this.armed = null;
        dropping = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!dropping) {
        client.write(chunk);
        return;
      }
      held = Buffer.concat([held, chunk]);
      if (hasReadyForQuery(held)) {
        this.dropped++;
        client.destroy();
        upstream.destroy();
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

/** Whether the server's messages so far include a complete ReadyForQuery ('Z', length 5). */
function hasReadyForQuery(buf: Buffer): boolean {
  let at = 0;
  while (at + 5 <= buf.length) {
    const type = buf[at];
    const length = buf.readUInt32BE(at + 1);
    if (at + 1 + length > buf.length) return false;
    if (type === 0x5a) return true;
    at += 1 + length;
  }
  return false;
}
