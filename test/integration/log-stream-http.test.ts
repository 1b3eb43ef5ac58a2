import type { ServerType } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenHttp } from '../../lib/http-server';
import { listeningPort, spawnProcurator } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// The live tail over real sockets (README "Live tail"): a reader that stops reading is cut off
// once the kernel's buffers and its tail's are full (its connection destroyed, not kept);
// closing the connection frees the tail and the LISTEN; and `serve` ends its open streams at
// SIGTERM instead of waiting for them.

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw GET of the stream that never reads what comes back. */
function stalledReader(port: number, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET /v1/logs/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Token: ${token}\r\n\r\n`);
      s.pause();
      resolve(s);
    });
    s.once('error', reject);
  });
}

describe('the live tail over HTTP', () => {
  let stack: Stack;
  let server: ServerType;
  let port = 0;
  const connections = () =>
    new Promise<number>((resolve) => (server as Server).getConnections((_, n) => resolve(n)));

  beforeAll(async () => {
    stack = await startStack({ queue: 'redis', db: 'postgres', worker: false, logFeed: { bufferItems: 50 } });
    server = await listenHttp((req, env) => stack.app.fetch(req, env), '127.0.0.1', 0);
    const address = server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  afterAll(async () => {
    (server as Server).closeAllConnections();
    await new Promise((r) => server.close(r));
    await stack.stop();
  });

  it('destroys the connection of a reader that stops reading, once its tail is full', async () => {
    const socket = await stalledReader(port, stack.adminToken);
    await until(() => stack.services.logFeed.openCount === 1);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // 40 MB of audit entries, far beyond what the socket's buffers hold.
    for (let i = 0; i < 20; i++) {
      await stack.database.rows(sql`INSERT INTO audit_log (id, actor_id, action, data)
        SELECT procurator_uuid_v7(), 'bench', 'bulk.write', jsonb_build_object('blob', repeat('x', 20000))
        FROM generate_series(1, 100)`);
    }
    await until(() => stack.services.logFeed.openCount === 0, 30_000);
    expect(await stack.metrics.registry.metrics()).toMatch(/^procurator_log_streams_dropped_total 1$/m);
    // The server let go of the socket: resumed, the client reads what was buffered, then the end.
    socket.resume();
    await closed;
    await until(async () => (await connections()) === 0);
  });

  it('frees the tail, and then the LISTEN, when the reader closes the connection', async () => {
    const sockets = await Promise.all([1, 2].map(() => stalledReader(port, stack.adminToken)));
    await until(() => stack.services.logFeed.openCount === 2);
    expect(stack.services.logFeed.listening).toBe(true);
    sockets[0]!.destroy();
    await until(() => stack.services.logFeed.openCount === 1);
    expect(stack.services.logFeed.listening).toBe(true);
    sockets[1]!.destroy();
    await until(() => stack.services.logFeed.openCount === 0);
    await until(() => !stack.services.logFeed.listening);
    const [listens] = await stack.database.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'procurator-listen'`,
    );
    expect(listens!.n).toBe(0);
  });
});

describe('serve with open streams', () => {
  it('ends them at SIGTERM and exits at once, not after the drain deadline', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'procurator-tail-'));
    const serve = spawnProcurator(['serve'], { DATA_DIR: dataDir, SERVER_PORT: '0', SERVER_HOST: '127.0.0.1' });
    try {
      const port = await listeningPort(serve);
      const token = (await serve.waitFor((l) => /^\s+prc_/.test(l))).trim();
      // One reader that reads, one that does not.
      const res = await fetch(`http://127.0.0.1:${port}/v1/logs/stream`, { headers: { 'X-API-Token': token } });
      expect(res.status).toBe(200);
      const reading = res.body!.getReader();
      const ended = (async () => {
        for (;;) if ((await reading.read()).done) return 'done';
      })().catch(() => 'error');
      const stalled = await stalledReader(port, token);
      stalled.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 300));

      const t0 = performance.now();
      serve.child.kill('SIGTERM');
      const exit = await serve.exited;
      const took = performance.now() - t0;
      console.log(`serve exited ${took.toFixed(0)} ms after SIGTERM with two streams open`);
      expect(exit.code).toBe(0);
      // HTTP_DRAIN_MS is 5 s: streams left open would have held it that long.
      expect(took).toBeLessThan(3000);
      expect(await ended).toBe('done');
      stalled.destroy();
    } finally {
      await serve.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
