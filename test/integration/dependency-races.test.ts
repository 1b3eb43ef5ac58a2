import { sql } from 'drizzle-orm';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../../lib/auth/roles';
import { newId } from '../../lib/ids';
import { silentLogger } from '../../lib/logger';
import type { QueueBackend, QueueEntry } from '../../lib/queue/queue-backend';
import { newClaimIds } from '../../lib/tasks/attempt-batches';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { DependencyStore } from '../../lib/tasks/dependency-store';
import { DependentRelease } from '../../lib/tasks/dependent-release';
import { OutcomeStore, newOutcomeIds } from '../../lib/tasks/outcome-store';
import type { TaskSummary, TaskView } from '../../lib/tasks/task';
import type { Stack } from '../helpers/stack';
import { startStack, submitBatch } from '../helpers/stack';

/**
 * Dependencies under real concurrency, on PostgreSQL (PGlite has one connection: nothing
 * there runs at the same moment). The database alone decides: two parents ending at once
 * release their child once, and a child stored while its parent ends is never left waiting.
 */
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const base = { queue: 'redis', db: 'postgres', worker: false } as const;

/** Claims a queued task (its first message, seq 1) as `workerId`; returns its lease. */
async function claim(claims: AttemptStore, taskId: string, workerId: string) {
  const r = await claims.claim({ taskId, seq: 1, ids: newClaimIds() }, workerId, 60_000);
  if (r.kind !== 'claimed') throw new Error(`could not claim ${taskId}: ${r.kind}`);
  return { id: taskId, leaseEpoch: r.task.leaseEpoch };
}

async function childState(s: Stack, ids: string[]) {
  return s.database.rows<{ id: string; status: string; unmet: number; met: number; cancelled: number }>(sql`
    SELECT t.id::text, t.status, t.unmet_dependencies AS unmet,
           (SELECT count(*)::int FROM task_events e WHERE e.task_id = t.id AND e.kind = 'dependencies_met') AS met,
           (SELECT count(*)::int FROM task_events e WHERE e.task_id = t.id AND e.kind = 'cancelled') AS cancelled
    FROM tasks t WHERE t.id = ANY(ARRAY(SELECT value::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)))
    ORDER BY t.id`);
}

describe('dependencies racing on PostgreSQL', () => {
  it('two parents of one child ending at the same moment in two workers release it exactly once (40 children)', async () => {
    stack = await startStack(base);
    const s = stack;
    const n = 40;
    const tasks = await submitBatch(
      s,
      Array.from({ length: n }, (_, i) => [
        { type: 'demo.echo' },
        { type: 'demo.echo' },
        { type: 'demo.echo', dependsOn: [`$${3 * i}`, `$${3 * i + 1}`] },
      ]).flat(),
    );
    const claims = new AttemptStore(s.database);
    const outcomes = new OutcomeStore(s.database);
    const pairs = await Promise.all(
      Array.from({ length: n }, async (_, i) => ({
        a: await claim(claims, tasks[3 * i]!.id, 'worker-a'),
        b: await claim(claims, tasks[3 * i + 1]!.id, 'worker-b'),
        child: tasks[3 * i + 2]!.id,
      })),
    );
    // Each worker writes its successes as one batch statement of its own; both run at once,
    // on two connections, and every child is decremented by both.
    const ended = await Promise.all(
      pairs.flatMap((p) => [
        outcomes.succeed(p.a, 'worker-a', '{}', 1, newId()),
        outcomes.succeed(p.b, 'worker-b', '{}', 1, newId()),
      ]),
    );
    expect(ended.every((e) => e?.status === 'succeeded' && e.hasChildren)).toBe(true);
    const children = await childState(
      s,
      pairs.map((p) => p.child),
    );
    expect(children.filter((c) => !(c.status === 'queued' && c.unmet === 0 && c.met === 1))).toEqual([]);

    // After the commits, each worker's follow-up enqueues what its own end released: every
    // child is reported by exactly one of the two.
    const release = (reported: string[]) =>
      new DependentRelease({
        store: { settledBy: (ids) => new DependencyStore(s.database).settledBy(ids) },
        queue: {
          enqueue: (entries: readonly QueueEntry[]) => {
            reported.push(...entries.map((e) => e.taskId));
            return Promise.resolve();
          },
        } as unknown as QueueBackend,
        events: s.events,
        logger: silentLogger(),
      });
    const byA: string[] = [];
    const byB: string[] = [];
    const summaries = ended as TaskSummary[];
    await Promise.all([
      release(byA).afterEnd(summaries.filter((_, i) => i % 2 === 0)),
      release(byB).afterEnd(summaries.filter((_, i) => i % 2 === 1)),
    ]);
    expect([...byA, ...byB].sort()).toEqual(pairs.map((p) => p.child).sort());
  });

  it('two parents dying at once cancel their child once, with one recorded end', async () => {
    stack = await startStack(base);
    const s = stack;
    const tasks = await submitBatch(
      s,
      Array.from({ length: 20 }, (_, i) => [
        { type: 'demo.echo' },
        { type: 'demo.echo' },
        { type: 'demo.echo', dependsOn: [`$${3 * i}`, `$${3 * i + 1}`] },
      ]).flat(),
    );
    const claims = new AttemptStore(s.database);
    const outcomes = new OutcomeStore(s.database);
    const error = { message: 'no', code: 'x', retryable: false };
    const leases = await Promise.all(
      tasks.map(async (t, i) => (i % 3 === 2 ? null : await claim(claims, t.id, `w-${i % 3}`))),
    );
    await Promise.all(
      leases.flatMap((l, i) =>
        l ? [outcomes.die(l, `w-${i % 3}`, error, 'permanent', newOutcomeIds())] : [],
      ),
    );
    const children = await childState(
      s,
      tasks.filter((_, i) => i % 3 === 2).map((t) => t.id),
    );
    expect(children.filter((c) => !(c.status === 'cancelled' && c.cancelled === 1))).toEqual([]);
  });

  it('a child stored while its parent ends is released by that end, never left waiting (60 rounds)', async () => {
    stack = await startStack(base);
    const s = stack;
    const claims = new AttemptStore(s.database);
    const outcomes = new OutcomeStore(s.database);
    const principal: Principal = {
      id: 'racer',
      name: 'racer',
      role: 'dev',
      rateLimitRps: null,
      legacy: false,
    };
    const children: string[] = [];
    let releasedByTheEnd = 0;
    for (let round = 0; round < 60; round++) {
      const submitStarted = performance.now();
      const parent = await s.services.submit.submitOne(
        principal,
        { accepted: { type: 'demo.echo' }, body: { type: 'demo.echo' } },
        null,
        { requestId: null },
      );
      // How long a submission takes on this machine now: most of it comes before it locks
      // the parent, so that is the scale of the head start either side needs.
      const submitMs = performance.now() - submitStarted;
      const lease = await claim(claims, parent.task.id, 'racer-worker');
      // Stagger the two, both ways, by up to one and a half submissions, so that each wins the
      // parent's row lock in some rounds however fast or slow the machine is.
      const delay = ((round % 5) - 2) * 0.75 * submitMs;
      const body = { type: 'demo.echo', dependsOn: [parent.task.id] };
      const [child, ended] = await Promise.all([
        sleep(Math.max(0, -delay)).then(() =>
          s.services.submit.submitOne(principal, { accepted: body, body }, null, { requestId: null }),
        ),
        sleep(Math.max(0, delay)).then(() => outcomes.succeed(lease, 'racer-worker', '{}', 1, newId())),
      ]);
      children.push(child.task.id);
      // The end saw the flag: the submission locked the parent first, so the end released it.
      if (ended?.hasChildren) releasedByTheEnd++;
    }
    const states = await childState(s, children);
    expect(states).toHaveLength(60);
    // Queued by the end (one dependencies_met), or at its submission when the end came first
    // (one dependencies_met as well): never waiting, never released twice.
    expect(states.filter((c) => !(c.status === 'queued' && c.unmet === 0 && c.met === 1))).toEqual([]);
    // Both orders happened, or the race was not run.
    expect(releasedByTheEnd).toBeGreaterThan(0);
    expect(releasedByTheEnd).toBeLessThan(60);
  });

  it('an end that waited for a submission’s lock on its parent still sees the child that submission stored', async () => {
    stack = await startStack(base);
    const s = stack;
    const [parent] = await submitBatch(s, [{ type: 'demo.echo' }]);
    const lease = await claim(new AttemptStore(s.database), parent!.id, 'w');
    const childId = newId();
    // What a submission does, held open: the parent flagged and locked, the child stored.
    const submission = new pg.Client({ connectionString: s.databaseUrl });
    await submission.connect();
    try {
      await submission.query('BEGIN');
      await submission.query('UPDATE tasks SET has_children = true WHERE id = $1', [parent!.id]);
      await submission.query(
        `INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by,
                            depends_on, unmet_dependencies)
         VALUES ($1, 'demo.echo', 'default', 'normal', 'waiting', '{}', 1, 1000, 'u', ARRAY[$2::uuid], 1)`,
        [childId, parent!.id],
      );
      await submission.query('INSERT INTO task_dependencies (parent_id, child_id) VALUES ($2, $1)', [
        childId,
        parent!.id,
      ]);
      // The parent's end starts now: its statement's snapshot predates the child.
      const end = new OutcomeStore(s.database).succeed(lease, 'w', '{}', 1, newId());
      for (let i = 0; ; i++) {
        const [w] = await s.database.rows<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`,
        );
        if (w!.n > 0) break;
        if (i > 200) throw new Error('the end never waited for the lock');
        await sleep(10);
      }
      await submission.query('COMMIT');
      const ended = await end;
      expect(ended).toMatchObject({ status: 'succeeded', hasChildren: true });
    } finally {
      await submission.end();
    }
    const child = (await (await s.request('GET', `/v1/tasks/${childId}`)).json()) as TaskView;
    expect(child.status).toBe('queued');
    expect(child.dependsOn).toEqual([parent!.id]);
  });
});
