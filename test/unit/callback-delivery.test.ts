import { sql } from 'drizzle-orm';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

/**
 * The outbox on the embedded database and the memory queue (what `npm start` runs): the
 * trigger writes one delivery per end, and the deliverer's answers to a receiver's statuses.
 */

let stack: Stack;
let receiver: Server;
let hook: string;
const statusFor = new Map<string, number>();
const hits = new Map<string, number>();

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const label = (req.url ?? '').slice(1);
    req.resume();
    req.on('end', () => {
      hits.set(label, (hits.get(label) ?? 0) + 1);
      res.writeHead(statusFor.get(label) ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  stack = await startStack({
    config: { OUTBOUND_ALLOW_PRIVATE: 'true' },
    callbacks: { intervalMs: 50, baseDelayMs: 50, maxDelayMs: 100, maxTries: 3, timeoutMs: 2000 },
  });
});

afterAll(async () => {
  await stack?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function submit(body: Record<string, unknown>): Promise<TaskView> {
  return (await (await stack.request('POST', '/v1/tasks', { body })).json()) as TaskView;
}

async function callbackEvents(id: string, count: number): Promise<TaskEventView[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await stack.request('GET', `/v1/tasks/${id}/events`);
    const items = ((await res.json()) as { items: TaskEventView[] }).items.filter((e) =>
      e.kind.startsWith('callback_'),
    );
    if (items.length >= count || Date.now() > deadline) return items;
    await sleep(25);
  }
}

describe('callback outbox on PGlite', () => {
  it('writes one delivery per end and none for a task without callbackUrl', async () => {
    const withUrl = await submit({ type: 'demo.echo', callbackUrl: `${hook}/ok` });
    const without = await submit({ type: 'demo.echo' });
    await stack.waitForStatus(withUrl.id, ['succeeded']);
    await stack.waitForStatus(without.id, ['succeeded']);
    expect((await callbackEvents(withUrl.id, 1)).map((e) => e.kind)).toEqual(['callback_delivered']);
    const rows = await stack.database.rows<{ task_id: string; event: string; status: string; run: number }>(
      sql`SELECT task_id::text, event, status, run FROM callback_deliveries
          WHERE task_id IN (${withUrl.id}::uuid, ${without.id}::uuid)`,
    );
    expect(rows).toEqual([{ task_id: withUrl.id, event: 'task.succeeded', status: 'delivered', run: 0 }]);
    expect(hits.get('ok')).toBe(1);
  });

  it('gives up at once on 410 Gone, and retries other 4xx until maxTries', async () => {
    statusFor.set('gone', 410);
    statusFor.set('missing', 404);
    const gone = await submit({ type: 'demo.echo', callbackUrl: `${hook}/gone` });
    const missing = await submit({ type: 'demo.echo', callbackUrl: `${hook}/missing` });
    const goneEvents = await callbackEvents(gone.id, 1);
    expect(goneEvents.map((e) => e.data)).toMatchObject([{ status: 410, final: true, try: 1 }]);
    const missingEvents = await callbackEvents(missing.id, 3);
    expect(missingEvents.map((e) => e.data)).toMatchObject([
      { status: 404, final: false, try: 1 },
      { status: 404, final: false, try: 2 },
      { status: 404, final: true, try: 3 },
    ]);
    await sleep(200);
    expect([hits.get('gone'), hits.get('missing')]).toEqual([1, 3]);
  });
});
