import type { ServerType } from '@hono/node-server';
import { sql } from 'drizzle-orm';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcuratorClient, ProcuratorError } from '../../client';
import type { LogItem } from '../../client';
import { listenHttp } from '../../lib/http-server';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { TcpProxy } from '../helpers/tcp-proxy';

// ProcuratorClient.tail() over real HTTP (README "Live tail"): it yields what /v1/logs would
// show, reconnects with Last-Event-ID when the connection breaks (nothing missed, nothing
// twice), and closes its stream when the loop ends or its signal aborts.

let stack: Stack;
let server: ServerType;
let client: ProcuratorClient;
let dev: { id: string; token: string };
let baseUrl: string;

beforeAll(async () => {
  stack = await startStack({ queue: 'redis', db: 'postgres', worker: false });
  server = await listenHttp((req, env) => stack.app.fetch(req, env), '127.0.0.1', 0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  dev = await stack.user('dev', 'tail-client');
  baseUrl = `http://127.0.0.1:${port}`;
  client = new ProcuratorClient({ baseUrl, token: dev.token });
});
afterAll(async () => {
  (server as Server).closeAllConnections();
  await new Promise((r) => server.close(r));
  await stack.stop();
});

const submit = () => client.submit({ type: 'demo.echo', delayMs: 600_000 });
const openTails = () => stack.services.logFeed.openCount;

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('ProcuratorClient.tail', () => {
  it('yields each item as /v1/logs shows it, and closes its stream when the loop ends', async () => {
    const seen: LogItem[] = [];
    const done = (async () => {
      for await (const item of client.tail({ kind: 'submitted' })) {
        seen.push(item);
        if (seen.length === 3) break;
      }
    })();
    await until(() => openTails() === 1);
    const tasks = [await submit(), await submit(), await submit()];
    await done;
    expect(seen.map((i) => (i.source === 'task_event' ? i.taskId : null))).toEqual(tasks.map((t) => t.id));
    const logs = (await (
      await fetch(`${baseUrl}/v1/logs?taskId=${tasks[0]!.id}`, {
        headers: { 'X-API-Token': dev.token },
      })
    ).json()) as { items: LogItem[] };
    expect(seen[0]).toEqual(logs.items[0]);
    await until(() => openTails() === 0);
  });

  it('reconnects with Last-Event-ID when the connection breaks: nothing missed, nothing twice', async () => {
    const total = 60;
    const ids: string[] = [];
    // The tail goes through a proxy whose connections are cut; submissions go straight.
    const proxy = new TcpProxy(Number(new URL(baseUrl).port));
    const resumes: string[] = [];
    const proxied = new ProcuratorClient({
      baseUrl: `http://127.0.0.1:${await proxy.start()}`,
      token: dev.token,
      fetch: (input, init) => {
        const last = (init.headers as Record<string, string>)['Last-Event-ID'];
        if (last) resumes.push(last);
        return fetch(input, init);
      },
    });
    const reading = (async () => {
      for await (const item of proxied.tail({}, { reconnectMs: 50 })) {
        ids.push(item.id);
        if (ids.length === total) break;
      }
    })();
    await until(() => openTails() === 1);
    for (let i = 0; i < total; i++) {
      await submit();
      // Break the stream's connection a few times along the way (and refuse new ones a
      // moment); go on once the client has come back.
      if (i % 15 === 7) {
        const before = resumes.length;
        await proxy.down();
        await proxy.up();
        await until(() => resumes.length > before);
      }
    }
    await reading;
    await proxy.close();
    expect(resumes.length).toBeGreaterThanOrEqual(4);
    expect(new Set(ids).size).toBe(total);
    const stored = await stack.database.rows<{ id: string }>(
      sql`SELECT e.id::text FROM task_events e JOIN tasks t ON t.id = e.task_id
          WHERE t.created_by = ${dev.id} AND e.id >= ${ids[0]!}::uuid`,
    );
    expect([...ids].sort()).toEqual(stored.map((r) => r.id).sort());
  });

  it('starts after lastEventId when given, and ends when its signal aborts', async () => {
    const first = await submit();
    const [mark] = (
      (await (
        await fetch(`${baseUrl}/v1/logs?taskId=${first.id}`, { headers: { 'X-API-Token': dev.token } })
      ).json()) as { items: LogItem[] }
    ).items;
    const after = [await submit(), await submit()];
    const stop = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const item of client.tail({}, { lastEventId: mark!.id, signal: stop.signal }))
        if (item.source === 'task_event') seen.push(item.taskId);
    })();
    await until(() => seen.length === 2);
    expect(seen).toEqual(after.map((t) => t.id));
    stop.abort();
    await reading;
    await until(() => openTails() === 0);
  });

  it('throws a refusal it cannot wait out as ProcuratorError', async () => {
    const other = await stack.user('dev', 'tail-client-other');
    const theirs = await new ProcuratorClient({ baseUrl, token: other.token }).submit({
      type: 'demo.echo',
      delayMs: 600_000,
    });
    const iterate = async () => {
      for await (const _ of client.tail({ taskId: theirs.id })) break;
    };
    const err = await iterate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProcuratorError);
    expect((err as ProcuratorError).status).toBe(404);
  });
});
