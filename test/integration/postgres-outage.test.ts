import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { ExecutionLog, recordingType } from '../helpers/recording-type';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { TcpProxy } from '../helpers/tcp-proxy';

/**
 * PostgreSQL goes away for a few seconds under load. The test puts a TCP proxy between
 * Procurator and the real server and cuts it, so other tests on the machine keep their
 * database.
 */
describe('PostgreSQL stopped for a few seconds under load', () => {
  const proxy = new TcpProxy(5432);
  let stack: Stack;
  afterAll(async () => {
    await stack?.stop();
    await proxy.close();
  });

  it('answers 503 with Retry-After (never 500), acknowledges nothing unwritten, and completes everything after', async () => {
    await proxy.start();
    const log = new ExecutionLog();
    stack = await startStack({
      queue: 'redis',
      db: 'postgres',
      postgresUrl: (url) => {
        const u = new URL(url);
        u.port = String(proxy.port);
        return u.toString();
      },
      config: { WORKER_CONCURRENCY: '8', CLAIM_IDLE_MS: '3000', RECOVERY_INTERVAL_MS: '300' },
      types: [recordingType(log)],
    });

    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let retryAfterSeen = false;
    let stop = false;
    const submitter = (async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        const res = await stack.request('POST', '/v1/tasks', {
          body: { type: 'test.record', payload: { ms: 50 } },
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) accepted.push(((await res.json()) as TaskView).id);
        else {
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          if (res.status === 503 && res.headers.get('retry-after')) retryAfterSeen = true;
          await res.body?.cancel();
        }
        await sleep(20);
      }
    })();

    while (accepted.length < 30) await sleep(20);
    await proxy.down();
    await sleep(500);
    const ready = await stack.request('GET', '/readyz', { token: null });
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { db: string } }).checks.db).toMatch(/^unavailable/);
    await sleep(2500);
    await proxy.up();
    await sleep(1000);
    expect((await stack.request('GET', '/readyz', { token: null })).status).toBe(200);
    stop = true;
    await submitter;

    expect(statuses.get(500) ?? 0).toBe(0);
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect(retryAfterSeen).toBe(true);

    const deadline = Date.now() + 40_000;
    let open: { id: string; status: string }[] = [];
    do {
      open = await stack.database.rows<{ id: string; status: string }>(
        sql`SELECT id::text, status FROM tasks WHERE status <> 'succeeded'`,
      );
      if (open.length === 0) break;
      await sleep(200);
    } while (Date.now() < deadline);
    expect(open).toEqual([]);
    const [tasks] = await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM tasks`);
    // Every task the API accepted is there, and only those (no half-written submission).
    expect(tasks!.n).toBe(accepted.length);
    const ends = await stack.database.rows<{ task_id: string; n: number }>(sql`
      SELECT task_id::text, count(*)::int AS n FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled') GROUP BY task_id`);
    expect(ends).toHaveLength(accepted.length);
    expect(ends.every((e) => e.n === 1)).toBe(true);
    const stats = await stack.queue.stats();
    expect(stats.reduce((n, s) => n + s.pending + s.length, 0)).toBe(0);
  });
});
