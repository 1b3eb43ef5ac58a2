import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { PgReplyDropper } from '../helpers/pg-reply-dropper';
import { pendingEntries } from '../helpers/queue-probe';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

// A commit whose reply never reaches the worker (the connection drops right after the server
// committed) must not cost an attempt or a false late result: the retried write recognises
// the earlier try as its own by the event ids it chose before the first try.

let stack: Stack | undefined;
let dropper: PgReplyDropper | undefined;
afterEach(async () => {
  await stack?.stop();
  await dropper?.close();
  stack = undefined;
  dropper = undefined;
});

async function startBehindDropper(claimIdleMs: number): Promise<{ s: Stack; d: PgReplyDropper }> {
  const d = new PgReplyDropper(5432);
  await d.start();
  const s = await startStack({
    queue: 'redis',
    db: 'postgres',
    config: { CLAIM_IDLE_MS: String(claimIdleMs), RECOVERY_INTERVAL_MS: '200' },
    postgresUrl: (url) => url.replace(/127\.0\.0\.1:5432/, `127.0.0.1:${d.port}`),
  });
  return { s, d };
}

async function kinds(s: Stack, id: string): Promise<string[]> {
  const res = await s.request('GET', `/v1/tasks/${id}/events`);
  return ((await res.json()) as { items: TaskEventView[] }).items.map((e) => e.kind);
}

describe('a lost commit reply (Redis + PostgreSQL behind a proxy that drops it)', () => {
  it('of the claim: the retry knows the claim was its own; a maxAttempts 1 task runs once and succeeds', async () => {
    ({ s: stack, d: dropper } = await startBehindDropper(1000));
    dropper.arm('procurator_claim');
    const res = await stack.request('POST', '/v1/tasks', {
      body: { type: 'demo.echo', payload: { n: 1 }, maxAttempts: 1 },
    });
    const task = (await res.json()) as TaskView;
    const ended = await stack.waitForStatus(task.id, ['succeeded', 'dead'], 10_000);
    expect(dropper.dropped).toBe(1);
    expect(ended.status).toBe('succeeded');
    expect(ended.attempts).toBe(1);
    expect(await kinds(stack, task.id)).toEqual(['submitted', 'started', 'succeeded']);
  });

  it('of the outcome: the retry knows the write was its own, acknowledges at once and counts no late result', async () => {
    ({ s: stack, d: dropper } = await startBehindDropper(5000));
    dropper.arm('procurator_succeed');
    const res = await stack.request('POST', '/v1/tasks', { body: { type: 'demo.echo', payload: { n: 2 } } });
    const task = (await res.json()) as TaskView;
    await stack.waitForStatus(task.id, ['succeeded'], 10_000);
    expect(dropper.dropped).toBe(1);
    // Acknowledged by the worker that wrote it, long before CLAIM_IDLE_MS could hand it on.
    const deadline = Date.now() + 1500;
    while ((await pendingEntries(stack.config.REDIS_PREFIX)).length > 0 && Date.now() < deadline)
      await sleep(50);
    expect(await pendingEntries(stack.config.REDIS_PREFIX)).toEqual([]);
    const late = await stack.metrics.lateResultsDiscarded.get();
    expect(late.values.reduce((n, v) => n + v.value, 0)).toBe(0);
    expect(await kinds(stack, task.id)).toEqual(['submitted', 'started', 'succeeded']);
    const [row] = await stack.database.rows<{ status: string; attempts: number }>(
      sql`SELECT status, attempts FROM tasks WHERE id = ${task.id}::uuid`,
    );
    expect(row).toEqual({ status: 'succeeded', attempts: 1 });
  });
});
