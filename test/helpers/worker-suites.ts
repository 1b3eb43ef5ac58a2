import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { QueueBackend } from '../../lib/queue/queue-backend';
import type { TaskView } from '../../lib/tasks/task';
import { ExecutionLog, recordingType } from './recording-type';
import type { Stack } from './stack';
import { startStack, submitBatch } from './stack';
import type { StackOptions } from './stack';

/**
 * The worker suites (worker, heartbeat, recoverer) over the given stacks: run on the memory
 * queue and PGlite, on Redis and PostgreSQL (worker.test.ts), and on a Redis Cluster
 * (redis-cluster.test.ts).
 */
export function defineWorkerSuites(variants: { name: string; opts: StackOptions }[]): void {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  async function waitUntilAllEnded(s: Stack, ids: string[], timeoutMs: number): Promise<Map<string, string>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = await s.database.rows<{ id: string; status: string }>(
        sql`SELECT id::text, status FROM tasks WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`,
      );
      const statuses = new Map(rows.map((r) => [r.id, r.status]));
      const open = ids.filter((id) => !['succeeded', 'dead', 'cancelled'].includes(statuses.get(id) ?? ''));
      if (open.length === 0) return statuses;
      if (Date.now() > deadline)
        throw new Error(`${open.length} tasks still open, e.g. ${statuses.get(open[0]!)}`);
      await sleep(50);
    }
  }

  describe.each(variants)('worker on $name', ({ opts }) => {
    it('stays alive through an idle period longer than its block timeout, then runs new work', async () => {
      stack = await startStack({ ...opts, config: { WORKER_BLOCK_MS: '100' } });
      const first = await stack.request('POST', '/v1/tasks', {
        body: { type: 'demo.echo', payload: { n: 1 } },
      });
      await stack.waitForStatus(((await first.json()) as TaskView).id, ['succeeded']);
      // Ten block timeouts with nothing to do: a consumer that returned after one read
      // (the predecessor's bug) would leave the next task queued forever.
      await sleep(1000);
      const res = await stack.request('POST', '/v1/tasks', {
        body: { type: 'demo.echo', payload: { n: 2 } },
      });
      const done = await stack.waitForStatus(((await res.json()) as TaskView).id, ['succeeded'], 5000);
      expect(done.result).toEqual({ n: 2 });
    });

    it('never has more than WORKER_CONCURRENCY attempts in flight with 10× that many queued', async () => {
      const log = new ExecutionLog();
      stack = await startStack({ ...opts, config: { WORKER_CONCURRENCY: '4' }, types: [recordingType(log)] });
      const tasks = await submitBatch(
        stack,
        Array.from({ length: 40 }, () => ({ type: 'test.record', payload: { ms: 40 } })),
      );
      const statuses = await waitUntilAllEnded(
        stack,
        tasks.map((t) => t.id),
        30_000,
      );
      expect([...statuses.values()].every((s) => s === 'succeeded')).toBe(true);
      expect(log.maxRunning).toBe(4);
      expect(log.starts).toHaveLength(40);
    });

    it('two workers on one stream never start the same attempt (500 tasks)', async () => {
      const log = new ExecutionLog();
      stack = await startStack({ ...opts, config: { WORKER_CONCURRENCY: '8' }, types: [recordingType(log)] });
      await stack.addWorker('worker-2');
      const tasks = await submitBatch(
        stack,
        Array.from({ length: 500 }, (_, i) => ({ type: 'test.record', payload: { ms: i % 3 } })),
      );
      const ids = tasks.map((t) => t.id);
      const statuses = await waitUntilAllEnded(stack, ids, 60_000);
      expect([...statuses.values()].filter((s) => s !== 'succeeded')).toEqual([]);
      const starts = await stack.database.rows<{
        task_id: string;
        attempt: number;
        n: number;
        workers: number;
      }>(sql`
        SELECT task_id::text, attempt, count(*)::int AS n, count(DISTINCT worker_id)::int AS workers
        FROM task_events WHERE kind = 'started' GROUP BY task_id, attempt`);
      expect(starts).toHaveLength(500);
      expect(starts.filter((s) => s.n !== 1)).toEqual([]);
      expect(log.starts).toHaveLength(500);
      const byWorker = await stack.database.rows<{ worker_id: string; n: number }>(
        sql`SELECT worker_id, count(*)::int AS n FROM task_events WHERE kind = 'started' GROUP BY worker_id`,
      );
      // Both took part: the test would prove nothing if one worker ran everything.
      expect(byWorker.map((r) => r.worker_id).sort()).toEqual(['worker-1', 'worker-2']);
    });

    it('stops reading at once on stop(), finishes attempts in flight, then returns', async () => {
      const log = new ExecutionLog();
      stack = await startStack({ ...opts, config: { WORKER_CONCURRENCY: '2' }, types: [recordingType(log)] });
      const tasks = await submitBatch(
        stack,
        Array.from({ length: 6 }, () => ({ type: 'test.record', payload: { ms: 300 } })),
      );
      while (log.running < 2) await sleep(10);
      const started = Date.now();
      await stack.worker!.stop();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(log.starts).toHaveLength(2);
      expect(log.ends).toHaveLength(2);
      const rows = await stack.database.rows<{ status: string; n: number }>(sql`
        SELECT status, count(*)::int AS n FROM tasks
        WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(tasks.map((t) => t.id))}::jsonb))
        GROUP BY status ORDER BY status`);
      expect(rows).toEqual([
        { status: 'queued', n: 4 },
        { status: 'succeeded', n: 2 },
      ]);
    });
  });

  describe.each(variants)('heartbeat on $name', ({ opts }) => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('keeps a task longer than CLAIM_IDLE_MS on its worker: one start, never recovered', async () => {
      const log = new ExecutionLog();
      // Claims go idle after 2 s and the other worker looks for idle messages every 100 ms:
      // without heartbeats (every 667 ms) the 5 s task would be taken over twice.
      stack = await startStack({
        ...opts,
        config: { CLAIM_IDLE_MS: '2000', RECOVERY_INTERVAL_MS: '100' },
        types: [recordingType(log)],
      });
      await stack.addWorker('worker-2');
      const [task] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 5000 } }]);
      const done = await stack.waitForStatus(task!.id, ['succeeded'], 15_000);
      expect(done.attempts).toBe(1);
      expect(log.startsOf(task!.id)).toBe(1);
      const events = await stack.database.rows<{ kind: string; worker_id: string | null }>(
        sql`SELECT kind, worker_id FROM task_events WHERE task_id = ${task!.id}::uuid ORDER BY at, id`,
      );
      expect(events.filter((e) => e.kind === 'started')).toHaveLength(1);
      expect(events.map((e) => e.kind)).toEqual(['submitted', 'started', 'succeeded']);
      expect(events[1]!.worker_id).toBe(events[2]!.worker_id);
      // Neither worker's recoverer took the message over, even for a moment.
      expect(await metricLine(stack, 'procurator_recovered_total')).toBe('procurator_recovered_total 0');
      expect(await metricLine(stack, 'procurator_late_results_discarded_total')).toBe(
        'procurator_late_results_discarded_total 0',
      );
    });

    it('still extends the lease in the database when refreshing the message in the queue fails', async () => {
      const log = new ExecutionLog();
      stack = await startStack({
        ...opts,
        worker: false,
        config: { CLAIM_IDLE_MS: '1000', RECOVERY_INTERVAL_MS: '100' },
        types: [recordingType(log)],
      });
      // The runner takes the task; its own recoverer stays out of the way (it would claim the
      // idle message for itself, which refreshes it as a heartbeat would). The thief recovers.
      await stack.addWorker('runner', { RECOVERY_INTERVAL_MS: '600000' });
      // Every queue refresh fails (Redis lost the stream, or is briefly unreachable): the
      // message goes idle and the thief takes it, but the database lease, still extended, says
      // the attempt is alive — so nobody starts it a second time.
      const proto = Object.getPrototypeOf(stack.queue) as QueueBackend;
      vi.spyOn(proto, 'touch').mockRejectedValue(new Error('queue unreachable'));
      const [task] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 3000 } }]);
      await stack.waitForStatus(task!.id, ['running']);
      await stack.addWorker('thief');
      const done = await stack.waitForStatus(task!.id, ['succeeded'], 10_000);
      expect(done.attempts).toBe(1);
      expect(log.startsOf(task!.id)).toBe(1);
      // The thief did take the idle message (the scenario happened) …
      expect(await metricLine(stack, 'procurator_recovered_total')).not.toBe('procurator_recovered_total 0');
      // … and the claim in the database refused it: one start, and the runner's outcome counts.
      const events = await stack.database.rows<{ kind: string; worker_id: string | null }>(
        sql`SELECT kind, worker_id FROM task_events WHERE task_id = ${task!.id}::uuid ORDER BY at, id`,
      );
      expect(events.map((e) => `${e.kind}:${e.worker_id ?? ''}`)).toEqual([
        'submitted:',
        'started:runner',
        'succeeded:runner',
      ]);
    });
  });

  describe.each(variants)('recoverer on $name', ({ opts }) => {
    it('takes over a lost worker’s message while a backlog keeps this worker full', async () => {
      const log = new ExecutionLog();
      stack = await startStack({
        ...opts,
        worker: false,
        config: { CLAIM_IDLE_MS: '1000', RECOVERY_INTERVAL_MS: '200', WORKER_CONCURRENCY: '2' },
        types: [recordingType(log)],
      });
      // A worker that read a message and died before claiming it: the message is pending
      // under a consumer that will never come back.
      const [orphan] = await submitBatch(stack, [{ type: 'test.record', payload: { ms: 0 } }]);
      const lostAt = Date.now();
      expect((await stack.queue.read('lost-worker', 1, 0)).map((m) => m.taskId)).toEqual([orphan!.id]);
      // A backlog of 6 s of work for two slots: the worker stays full throughout, and every
      // slot that frees is wanted by a new task.
      const backlog = await submitBatch(
        stack,
        Array.from({ length: 40 }, () => ({ type: 'test.record', payload: { ms: 300 } })),
      );
      await stack.addWorker('busy-worker');
      await waitUntilAllEnded(stack, [orphan!.id, ...backlog.map((t) => t.id)], 30_000);
      const orphanStart = log.starts.find((st) => st.taskId === orphan!.id)!;
      // Idle after 1 s, looked for every 200 ms, and a slot frees every ~150 ms: well before
      // the backlog is done (6 s), not after it.
      expect(orphanStart.at - lostAt).toBeLessThan(3000);
      const lastBacklogStart = Math.max(
        ...log.starts.filter((st) => st.taskId !== orphan!.id).map((st) => st.at),
      );
      expect(orphanStart.at).toBeLessThan(lastBacklogStart);
      expect(log.maxRunning).toBe(2);
    });
  });

  async function metricLine(s: Stack, name: string): Promise<string | undefined> {
    const text = await s.metrics.registry.getSingleMetricAsString(name);
    return text.split('\n').find((l) => l.startsWith(`${name} `));
  }
}
