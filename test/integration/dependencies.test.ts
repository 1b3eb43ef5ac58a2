import { sql } from 'drizzle-orm';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../lib/ids';
import { RetentionStore } from '../../lib/retention/retention-store';
import type { TaskEventView, TaskView } from '../../lib/tasks/task';
import { FailPointLatch } from '../helpers/fail-point-latch';
import { ExecutionLog, recordingType } from '../helpers/recording-type';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack, submitBatch, taskCount } from '../helpers/stack';

/**
 * `dependsOn` (README "Dependencies") on both stacks: the `waiting` status, the release by the
 * last parent's end (`dependencies_met`), the `dependency_failed` end and its cascade, batches
 * naming their own tasks by index, what refuses a submission, and a crash between a parent's
 * end and its child's enqueue.
 */
let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function submit(s: Stack, body: unknown, token?: string): Promise<TaskView> {
  const res = await s.request('POST', '/v1/tasks', { body, token });
  expect(res.status, JSON.stringify(await res.clone().json())).toBe(202);
  return (await res.json()) as TaskView;
}

async function refused(s: Stack, path: string, body: unknown, token?: string) {
  const res = await s.request('POST', path, { body, token });
  expect(res.status).toBe(422);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  return (await res.json()) as { detail: string; errors: { path: string; message: string }[] };
}

async function get(s: Stack, id: string): Promise<TaskView> {
  return (await (await s.request('GET', `/v1/tasks/${id}`)).json()) as TaskView;
}

async function kinds(s: Stack, id: string): Promise<string[]> {
  const res = await s.request('GET', `/v1/tasks/${id}/events`);
  return ((await res.json()) as { items: TaskEventView[] }).items.map((e) => e.kind);
}

async function finishedCount(s: Stack, status: string): Promise<number> {
  const m = await s.metrics.registry.getSingleMetric('procurator_tasks_finished_total')!.get();
  return m.values.filter((v) => v.labels.status === status).reduce((n, v) => n + v.value, 0);
}

describe.each(STACK_VARIANTS)('dependsOn on $name', ({ opts }) => {
  it('fan-in of 100 parents in one batch: the child runs once, after the last parent, with one dependencies_met', async () => {
    const log = new ExecutionLog();
    stack = await startStack({ ...opts, config: { WORKER_CONCURRENCY: '8' }, types: [recordingType(log)] });
    const parents = Array.from({ length: 100 }, (_, i) => ({ type: 'test.record', payload: { ms: i % 7 } }));
    const tasks = await submitBatch(stack, [
      ...parents,
      { type: 'test.record', dependsOn: parents.map((_, i) => `$${i}`) },
    ]);
    const child = tasks[100]!;
    expect(child.status).toBe('waiting');
    expect(child.dependsOn).toEqual(tasks.slice(0, 100).map((t) => t.id));
    expect(tasks[0]!.dependsOn).toEqual([]);
    const done = await stack.waitForStatus(child.id, ['succeeded'], 30_000);
    expect(done.dependsOn).toHaveLength(100);
    expect(log.startsOf(child.id)).toBe(1);
    const childStart = log.starts.find((st) => st.taskId === child.id)!.at;
    const lastParentEnd = Math.max(...log.ends.filter((e) => e.taskId !== child.id).map((e) => e.at));
    expect(childStart).toBeGreaterThanOrEqual(lastParentEnd);
    expect(await kinds(stack, child.id)).toEqual(['submitted', 'dependencies_met', 'started', 'succeeded']);
    for (const p of tasks.slice(0, 100)) expect((await get(stack, p.id)).status).toBe('succeeded');
  });

  it('a dead parent cancels its waiting child (dependency_failed), and that cancels the grandchild', async () => {
    stack = await startStack(opts);
    const before = await finishedCount(stack, 'cancelled');
    const [parent, child, grandchild, bystander] = await submitBatch(stack, [
      { type: 'demo.fail', payload: { retryable: false } },
      { type: 'demo.echo', dependsOn: ['$0'] },
      { type: 'demo.echo', dependsOn: ['$1'], callbackUrl: null },
      { type: 'demo.echo' },
    ]);
    await stack.waitForStatus(parent!.id, ['dead']);
    const c = await stack.waitForStatus(child!.id, ['cancelled']);
    expect(c.lastError).toMatchObject({
      code: 'dependency_failed',
      retryable: false,
      parentId: parent!.id,
      parentStatus: 'dead',
    });
    expect(c.attempts).toBe(0);
    expect(c.finishedAt).not.toBeNull();
    const g = await stack.waitForStatus(grandchild!.id, ['cancelled']);
    expect(g.lastError).toMatchObject({
      code: 'dependency_failed',
      parentId: child!.id,
      parentStatus: 'cancelled',
    });
    expect(await kinds(stack, child!.id)).toEqual(['submitted', 'cancelled']);
    expect(await kinds(stack, grandchild!.id)).toEqual(['submitted', 'cancelled']);
    await stack.waitForStatus(bystander!.id, ['succeeded']);
    // Both ends were announced by the worker that wrote the parent's end.
    expect(await finishedCount(stack, 'cancelled')).toBe(before + 2);
  });

  it('cancelling a parent cancels its waiting children; cancelling a waiting child leaves its parent', async () => {
    stack = await startStack(opts);
    const parent = await submit(stack, { type: 'demo.echo', delayMs: 60_000 });
    const child = await submit(stack, { type: 'demo.echo', dependsOn: [parent.id] });
    const other = await submit(stack, { type: 'demo.echo', dependsOn: [parent.id] });
    expect(child.status).toBe('waiting');

    const own = await stack.request('POST', `/v1/tasks/${other.id}/cancel`);
    expect(own.status).toBe(200);
    expect(((await own.json()) as TaskView).status).toBe('cancelled');
    expect((await get(stack, parent.id)).status).toBe('scheduled');

    const res = await stack.request('POST', `/v1/tasks/${parent.id}/cancel`);
    expect(res.status).toBe(200);
    const c = await get(stack, child.id);
    expect(c.status).toBe('cancelled');
    expect(c.lastError).toMatchObject({
      code: 'dependency_failed',
      parentId: parent.id,
      parentStatus: 'cancelled',
    });
    // The child cancelled by hand keeps its own reason.
    expect((await get(stack, other.id)).lastError).toBeNull();
  });

  it('parents that had already ended: succeeded ones release at once (still recording dependencies_met), a dead one cancels', async () => {
    stack = await startStack(opts);
    const ok = await submit(stack, { type: 'demo.echo' });
    const bad = await submit(stack, { type: 'demo.fail', payload: { retryable: false } });
    await stack.waitForStatus(ok.id, ['succeeded']);
    await stack.waitForStatus(bad.id, ['dead']);

    const ready = await submit(stack, { type: 'demo.echo', payload: { n: 1 }, dependsOn: [ok.id] });
    expect(ready.status).toBe('queued');
    expect((await stack.waitForStatus(ready.id, ['succeeded'])).result).toEqual({ n: 1 });
    expect(await kinds(stack, ready.id)).toEqual(['submitted', 'dependencies_met', 'started', 'succeeded']);

    const doomed = await submit(stack, { type: 'demo.echo', dependsOn: [ok.id, bad.id] });
    expect(doomed.status).toBe('cancelled');
    expect(doomed.lastError).toMatchObject({
      code: 'dependency_failed',
      parentId: bad.id,
      parentStatus: 'dead',
    });

    // In a batch, the cancellation reaches the batch's own tasks below it.
    const [a, b] = await submitBatch(stack, [
      { type: 'demo.echo', dependsOn: [bad.id] },
      { type: 'demo.echo', dependsOn: ['$0', ok.id] },
    ]);
    expect(a!.status).toBe('cancelled');
    expect(b!.status).toBe('cancelled');
    expect(b!.lastError).toMatchObject({ parentId: a!.id });
  });

  it('a replayed dead parent runs again; the children its death cancelled stay cancelled', async () => {
    stack = await startStack(opts);
    const [parent, child] = await submitBatch(stack, [
      { type: 'demo.fail', payload: { retryable: false } },
      { type: 'demo.echo', dependsOn: ['$0'] },
    ]);
    await stack.waitForStatus(child!.id, ['cancelled']);
    const replay = await stack.request('POST', `/v1/dlq/${parent!.id}/replay`);
    expect(replay.status).toBe(202);
    await stack.waitForStatus(parent!.id, ['dead']);
    await sleep(200);
    const c = await get(stack, child!.id);
    expect(c.status).toBe('cancelled');
    expect(await kinds(stack, child!.id)).toEqual(['submitted', 'cancelled']);
  });

  it('refuses what it cannot wait for, naming it, and stores nothing', async () => {
    stack = await startStack({ ...opts, worker: false });
    const s = stack;
    const alice = await s.user('dev');
    const bob = await s.user('dev');
    const ops = await s.user('ops');
    const bobs = await submit(s, { type: 'demo.echo' }, bob.token);
    const alices = await submit(s, { type: 'demo.echo' }, alice.token);
    const before = await taskCount(s);

    const unknown = newId();
    let p = await refused(
      s,
      '/v1/tasks',
      { type: 'demo.echo', dependsOn: [alices.id, unknown] },
      alice.token,
    );
    expect(p.errors).toEqual([{ path: 'dependsOn[1]', message: expect.stringContaining(unknown) as string }]);
    // Another user's task is as unknown as one that never existed.
    p = await refused(s, '/v1/tasks', { type: 'demo.echo', dependsOn: [bobs.id] }, alice.token);
    expect(p.errors[0]!.message).toBe(
      `no task ${bobs.id} that you can see: it does not exist, is another user's, or was deleted by retention`,
    );
    p = await refused(s, '/v1/tasks', { type: 'demo.echo', dependsOn: ['$0'] });
    expect(p.errors[0]).toMatchObject({
      path: 'dependsOn[0]',
      message: expect.stringContaining('batch') as string,
    });
    p = await refused(s, '/v1/tasks', { type: 'demo.echo', dependsOn: ['not-an-id', 7] });
    expect(p.errors.map((e) => e.path)).toEqual(['dependsOn[0]', 'dependsOn[1]']);
    p = await refused(s, '/v1/tasks', {
      type: 'demo.echo',
      dependsOn: Array.from({ length: 101 }, () => alices.id),
    });
    expect(p.errors[0]).toMatchObject({ path: 'dependsOn', message: 'at most 100 tasks' });
    p = await refused(s, '/v1/tasks/batch', {
      tasks: [
        { type: 'demo.echo', dependsOn: ['$0'] },
        { type: 'demo.echo', dependsOn: ['$1', '$3'] },
        { type: 'demo.echo', dependsOn: ['$0', unknown] },
      ],
    });
    expect(p.errors.map((e) => e.path)).toEqual([
      'tasks[0].dependsOn[0]',
      'tasks[1].dependsOn[0]',
      'tasks[1].dependsOn[1]',
    ]);
    expect(p.errors[0]!.message).toContain('an index below 0');
    p = await refused(s, '/v1/tasks/batch', {
      tasks: [{ type: 'demo.echo' }, { type: 'demo.echo', dependsOn: ['$0', unknown] }],
    });
    expect(p.errors.map((e) => e.path)).toEqual(['tasks[1].dependsOn[1]']);
    expect(await taskCount(s)).toBe(before);
    // Nothing of a refused submission is left, not even the flag on a parent it named.
    const [flag] = await s.database.rows<{ has_children: boolean }>(
      sql`SELECT has_children FROM tasks WHERE id = ${alices.id}::uuid`,
    );
    expect(flag!.has_children).toBe(false);

    // ops may name anyone's task; a repeated entry counts once.
    const child = await submit(
      s,
      { type: 'demo.echo', dependsOn: [bobs.id, bobs.id.toUpperCase(), alices.id, bobs.id] },
      ops.token,
    );
    expect(child.dependsOn).toEqual([bobs.id, alices.id]);
    const [row] = await s.database.rows<{ unmet_dependencies: number }>(
      sql`SELECT unmet_dependencies FROM tasks WHERE id = ${child.id}::uuid`,
    );
    expect(row!.unmet_dependencies).toBe(2);
  });

  it('waiting: listed by its status, repeated idempotently, blocks deleting its queue, never pruned', async () => {
    stack = await startStack({ ...opts, worker: false });
    const s = stack;
    const parent = await submit(s, { type: 'demo.echo', queue: 'q-deps' });
    const body = { type: 'demo.echo', queue: 'q-deps', dependsOn: [parent.id] };
    const first = await s.request('POST', '/v1/tasks', { body, headers: { 'Idempotency-Key': 'dep-1' } });
    expect(first.status).toBe(202);
    const child = (await first.json()) as TaskView;
    const again = await s.request('POST', '/v1/tasks', { body, headers: { 'Idempotency-Key': 'dep-1' } });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as TaskView).id).toBe(child.id);
    const other = await s.request('POST', '/v1/tasks', {
      body: { ...body, payload: { x: 1 } },
      headers: { 'Idempotency-Key': 'dep-1' },
    });
    expect(other.status).toBe(422);

    const list = await s.request('GET', '/v1/tasks?status=waiting');
    expect(((await list.json()) as { items: TaskView[] }).items.map((t) => t.id)).toEqual([child.id]);
    // A waiting task is live: its queue cannot be deleted.
    await s.request('POST', `/v1/tasks/${parent.id}/cancel`);
    expect((await get(s, child.id)).status).toBe('cancelled');
    const waitingToo = await submit(s, { type: 'demo.echo', queue: 'q-deps2', delayMs: 60_000 });
    const waiting = await submit(s, { type: 'demo.echo', queue: 'q-deps3', dependsOn: [waitingToo.id] });
    expect((await s.request('DELETE', '/v1/queues/q-deps3')).status).toBe(409);

    // Old as it may be, a waiting task is not pruned; an ended parent goes with its edges.
    await s.database.rows(
      sql`UPDATE tasks SET updated_at = now() - interval '400 days', created_at = now() - interval '400 days'`,
    );
    const retention = new RetentionStore(s.database);
    let edgesPruned = 0;
    for (const status of ['succeeded', 'cancelled', 'discarded', 'dead'] as const) {
      edgesPruned += (await retention.pruneTasks(status, 0, 0, 500)).dependencies;
    }
    expect(edgesPruned).toBe(1); // the cancelled parent's edge to its child
    expect((await get(s, waiting.id)).status).toBe('waiting');
    const edges = await s.database.rows<{ parent_id: string }>(
      sql`SELECT parent_id::text FROM task_dependencies`,
    );
    expect(edges.map((e) => e.parent_id)).toEqual([waitingToo.id]);
  });

  it('a crash between a parent’s end and its child’s enqueue: the reconciler enqueues the child, which runs', async () => {
    const latch = new FailPointLatch('worker.before-release');
    stack = await startStack({
      ...opts,
      worker: false,
      failpoints: latch.failpoints,
      config: { RECONCILE_INTERVAL_MS: '200' },
    });
    const [parent, child] = await submitBatch(stack, [
      { type: 'demo.echo', payload: { p: 1 } },
      { type: 'demo.echo', payload: { c: 1 }, dependsOn: ['$0'] },
    ]);
    latch.arm(parent!.id);
    await stack.addWorker('ends-the-parent');
    await latch.reached;
    // The parent's end committed and released the child in the database; the worker that
    // wrote it never gets to enqueue it (held here, as if it had died).
    expect((await get(stack, parent!.id)).status).toBe('succeeded');
    const released = await get(stack, child!.id);
    expect(released.status).toBe('queued');
    expect(await stack.queue.lookup([{ taskId: child!.id, queue: 'default' }])).toEqual(new Map());
    await stack.addWorker('survivor');
    const done = await stack.waitForStatus(child!.id, ['succeeded'], 10_000);
    expect(done.result).toEqual({ c: 1 });
    expect(await kinds(stack, child!.id)).toEqual(['submitted', 'dependencies_met', 'started', 'succeeded']);
    latch.release();
  });
});
