import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../lib/logger';
import type { DeadLetter, QueueEntry, QueueMessage } from '../../lib/queue/queue-backend';
import { RedisQueue } from '../../lib/queue/redis-queue';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import type { TaskStatus, TaskView } from '../../lib/tasks/task';
import { TERMINAL_STATUSES } from '../../lib/tasks/task';
import { Reconciler } from '../../worker/reconciler';
import { Lease } from '../../lib/leadership/lease';
import { ExecutionLog, recordingType } from '../helpers/recording-type';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { TcpProxy } from '../helpers/tcp-proxy';

/**
 * PostgreSQL goes away for a few seconds under load. The test puts a TCP proxy between
 * Procurator and the real server and cuts it, so other tests on the machine keep their
 * database.
 *
 * The reconciler is kept out of it (RECONCILE_INTERVAL_MS of an hour: it runs once, at start,
 * before any task exists), so it cannot repair a lost message within the test. And every
 * queue write is checked as it happens, against the real server directly (not through the
 * proxy): an XACK only of a message whose outcome is committed, an XADD only of a committed
 * row.
 */
describe('PostgreSQL stopped for a few seconds under load', () => {
  const proxy = new TcpProxy(5432);
  let stack: Stack;
  let direct: pg.Pool | undefined;
  afterAll(async () => {
    vi.restoreAllMocks();
    // Before stop(): dropping the test database terminates every connection still open to it.
    await direct?.end();
    await stack?.stop();
    await proxy.close();
  });

  /**
   * Wraps the Redis queue's writes: each first reads the task's row on the real server, and
   * records a violation when the database does not already say what the queue write assumes.
   */
  function watchQueueWrites(db: pg.Pool) {
    const seen = {
      violations: [] as string[],
      acks: 0,
      /** When each task's message was last acknowledged. */
      ackedAt: new Map<string, number>(),
      enqueues: 0,
    };
    const row = async (id: string) =>
      (
        await db.query<{ status: string; enqueue_seq: number }>(
          'SELECT status, enqueue_seq FROM tasks WHERE id = $1',
          [id],
        )
      ).rows[0];
    const proto = RedisQueue.prototype;
    // The originals, each called below with the instance as `this`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const { ack, enqueue, defer, deadLetter, postpone } = proto;
    vi.spyOn(proto, 'ack').mockImplementation(async function (this: RedisQueue, m: QueueMessage) {
      const r = await row(m.taskId);
      // Acknowledged: the task has ended, or this message is no longer its live one.
      if (!r) seen.violations.push(`XACK of ${m.taskId}/${m.seq}: no row`);
      else if (!TERMINAL_STATUSES.has(r.status as TaskStatus) && Number(r.enqueue_seq) === m.seq) {
        seen.violations.push(`XACK of ${m.taskId}/${m.seq} while the row is ${r.status}`);
      }
      seen.acks++;
      seen.ackedAt.set(m.taskId, Date.now());
      return ack.call(this, m);
    });
    vi.spyOn(proto, 'enqueue').mockImplementation(async function (
      this: RedisQueue,
      entries: readonly QueueEntry[],
    ) {
      for (const e of entries) {
        const r = await row(e.taskId);
        if (!r || Number(r.enqueue_seq) < e.seq) {
          seen.violations.push(
            `XADD of ${e.taskId}/${e.seq}: row ${r ? `at seq ${r.enqueue_seq}` : 'missing'}`,
          );
        }
        seen.enqueues++;
      }
      return enqueue.call(this, entries);
    });
    vi.spyOn(proto, 'defer').mockImplementation(async function (
      this: RedisQueue,
      m: QueueMessage,
      e: QueueEntry & { dueAt: number },
    ) {
      const r = await row(e.taskId);
      if (!r || Number(r.enqueue_seq) < e.seq) {
        seen.violations.push(
          `defer of ${e.taskId}/${e.seq}: row ${r ? `at seq ${r.enqueue_seq}` : 'missing'}`,
        );
      }
      return defer.call(this, m, e);
    });
    vi.spyOn(proto, 'deadLetter').mockImplementation(async function (
      this: RedisQueue,
      m: QueueMessage | null,
      seq: number,
      letter: DeadLetter,
    ) {
      const r = await row(letter.taskId);
      if (r?.status !== 'dead') seen.violations.push(`dead letter of ${letter.taskId}: row ${r?.status}`);
      return deadLetter.call(this, m, seq, letter);
    });
    // Nothing here waits without an attempt (no paused queue, no flow limit).
    vi.spyOn(proto, 'postpone').mockImplementation(function (
      this: RedisQueue,
      m: QueueMessage,
      dueAt: number,
    ) {
      seen.violations.push(`unexpected postpone of ${m.taskId}`);
      return postpone.call(this, m, dueAt);
    });
    return seen;
  }

  it('answers 503 with Retry-After (never 500), acknowledges nothing unwritten, and completes everything after', async () => {
    await proxy.start();
    const log = new ExecutionLog();
    let realUrl = '';
    stack = await startStack({
      queue: 'redis',
      db: 'postgres',
      postgresUrl: (url) => {
        realUrl = url;
        const u = new URL(url);
        u.port = String(proxy.port);
        return u.toString();
      },
      config: {
        WORKER_CONCURRENCY: '8',
        CLAIM_IDLE_MS: '3000',
        RECOVERY_INTERVAL_MS: '300',
        RECONCILE_INTERVAL_MS: '3600000',
      },
      types: [recordingType(log)],
    });
    direct = new pg.Pool({ connectionString: realUrl, max: 4 });
    direct.on('error', () => undefined); // an idle client's connection dropping is no test failure
    const seen = watchQueueWrites(direct);

    const accepted: string[] = [];
    // Idempotency keys of the submissions not answered 202: a commit whose answer the cut
    // connection lost may still have stored one of them.
    const refusedKeys = new Set<string>();
    const statuses = new Map<number, number>();
    let retryAfterSeen = false;
    let stop = false;
    const submitter = (async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        const key = `outage-${i}`;
        const res = await stack.request('POST', '/v1/tasks', {
          body: { type: 'test.record', payload: { ms: 50 } },
          headers: { 'Idempotency-Key': key },
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 202) accepted.push(((await res.json()) as TaskView).id);
        else {
          refusedKeys.add(key);
          expect(res.headers.get('content-type')).toContain('application/problem+json');
          if (res.status === 503 && res.headers.get('retry-after')) retryAfterSeen = true;
          await res.body?.cancel();
        }
        await sleep(20);
      }
    })();

    while (accepted.length < 30) await sleep(20);
    const cutAt = Date.now();
    const acceptedBeforeCut = [...accepted];
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

    // Every accepted task completes with no repair: the reconciler does not run.
    const acceptedJson = JSON.stringify(accepted);
    const openAccepted = () =>
      stack.database.rows<{ id: string; status: string }>(sql`
        SELECT id::text, status FROM tasks
        WHERE id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${acceptedJson}::jsonb)))
          AND status <> 'succeeded'`);
    const deadline = Date.now() + 40_000;
    let open = await openAccepted();
    while (open.length > 0 && Date.now() < deadline) {
      await sleep(200);
      open = await openAccepted();
    }
    expect(open).toEqual([]);
    expect(seen.violations).toEqual([]);
    expect(seen.acks).toBeGreaterThanOrEqual(accepted.length);
    // The check saw the cases that matter: tasks accepted before the cut, finished after it.
    expect(acceptedBeforeCut.filter((id) => (seen.ackedAt.get(id) ?? 0) > cutAt).length).toBeGreaterThan(0);
    expect(seen.enqueues).toBeGreaterThanOrEqual(accepted.length);

    // Every task stored is one the API accepted, or one whose commit reached the server just
    // as the connection was cut (answered 503, stored all the same: the client's retry with
    // its Idempotency-Key would find it). Those were never enqueued: the reconciler's job.
    const stored = await stack.database.rows<{ id: string; key: string }>(
      sql`SELECT id::text, idempotency_key AS key FROM tasks`,
    );
    const acceptedSet = new Set(accepted);
    const storedIds = new Set(stored.map((t) => t.id));
    expect(accepted.filter((id) => !storedIds.has(id))).toEqual([]);
    const orphans = stored.filter((t) => !acceptedSet.has(t.id));
    expect(orphans.filter((t) => !refusedKeys.has(t.key))).toEqual([]);
    // Never half-written: each stored task has its `submitted` event (one statement writes both).
    const submitted = await stack.database.rows<{ n: number }>(sql`
      SELECT count(DISTINCT task_id)::int AS n FROM task_events WHERE kind = 'submitted'`);
    expect(submitted[0]!.n).toBe(stored.length);
    if (orphans.length > 0) {
      // Under the stack's worker's id: that worker holds the reconciler lease (it reconciled at start).
      const reconciler = new Reconciler({
        queue: stack.queue,
        store: new AttemptStore(stack.database),
        lease: new Lease(stack.database, { name: 'reconciler', holder: 'worker-1', ttlMs: 60_000 }),
        logger: silentLogger(),
        intervalMs: 1000,
        graceMs: 0,
      });
      expect(await reconciler.tick()).toBe(orphans.length);
    }
    let unfinished: { id: string }[] = [];
    do {
      unfinished = await stack.database.rows<{ id: string }>(
        sql`SELECT id::text FROM tasks WHERE status <> 'succeeded'`,
      );
      if (unfinished.length === 0) break;
      await sleep(200);
    } while (Date.now() < deadline + 10_000);
    expect(unfinished).toEqual([]);

    const ends = await stack.database.rows<{ task_id: string; n: number }>(sql`
      SELECT task_id::text, count(*)::int AS n FROM task_events
      WHERE kind IN ('succeeded','dead_lettered','cancelled') GROUP BY task_id`);
    expect(ends).toHaveLength(stored.length);
    expect(ends.every((e) => e.n === 1)).toBe(true);
    const stats = await stack.queue.stats();
    expect(stats.reduce((n, s) => n + s.pending + s.length + s.delayed, 0)).toBe(0);
    expect(seen.violations).toEqual([]);
  });
});
