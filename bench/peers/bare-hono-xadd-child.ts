import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { childInput, report, runChild } from '../load/child-side';
import type { BareHonoXaddInput, BareHonoXaddMessage } from './bare-hono-xadd';

/**
 * The HTTP ceiling: the least a `POST /v1/tasks` over Hono and Redis can do — parse the JSON
 * body, one XADD, answer 202. No auth, validation, rate limit or database.
 */
runChild(async () => {
  const { redisUrl, prefix } = childInput<BareHonoXaddInput>();
  // Auto-pipelining, as Procurator's own connections use: concurrent XADDs share a write.
  // No reconnecting: a Redis that goes away mid-run must fail the run, not stall it.
  const redis = new Redis(redisUrl, {
    enableAutoPipelining: true,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // surfaces through connect() and each XADD
  await redis.connect();
  const stream = `${prefix}:tasks`;
  const app = new Hono();
  app.post('/v1/tasks', async (c) => {
    const body: unknown = await c.req.json();
    const id = await redis.xadd(stream, '*', 'task', JSON.stringify(body));
    return c.json({ id }, 202);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  report<BareHonoXaddMessage>({ type: 'listening', port });
  return async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    // The parent deletes the prefix too; this covers a parent that died without doing so.
    await redis.del(stream);
    await redis.quit();
  };
});
