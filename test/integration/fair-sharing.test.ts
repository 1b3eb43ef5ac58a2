import { afterEach, describe, expect, it } from 'vitest';
import type { TaskView } from '../../lib/tasks/task';
import { ExecutionLog, maxOverlap, recordingType } from '../helpers/recording-type';
import { STACK_VARIANTS, startStack, submitBatch } from '../helpers/stack';
import type { Stack } from '../helpers/stack';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/** Waits until every task of `ids` has started at least once. */
async function untilStarted(log: ExecutionLog, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ids.every((id) => log.startsOf(id) > 0)) {
    if (Date.now() > deadline) throw new Error('not every task started in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(STACK_VARIANTS)('fair sharing (concurrencyKey) on $name', ({ opts }) => {
  it('starts 5 tasks of key B before the 20th of key A, submitted after 500 of A into a paused queue limited to 2', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...opts,
      types: [recordingType(log)],
      config: { FLOW_LIMITS: JSON.stringify({ 'queue:fair': { concurrency: 2 } }) },
    });
    const s = stack;
    expect((await s.request('POST', '/v1/queues/fair/pause')).status).toBe(200);
    const task = (key: string) => ({
      type: 'test.record',
      queue: 'fair',
      concurrencyKey: key,
      payload: { ms: 5 },
    });
    const a = await submitBatch(
      s,
      Array.from({ length: 500 }, () => task('A')),
    );
    const b = await submitBatch(
      s,
      Array.from({ length: 5 }, () => task('B')),
    );
    expect(b[0]!.concurrencyKey).toBe('B');
    expect((await s.request('POST', '/v1/queues/fair/resume')).status).toBe(200);

    await untilStarted(
      log,
      b.map((t) => t.id),
      30_000,
    );
    const aIds = new Set(a.map((t) => t.id));
    const firstStarts = log.starts.filter(
      (st, i) => log.starts.findIndex((x) => x.taskId === st.taskId) === i,
    );
    const aStarts = firstStarts.filter((st) => aIds.has(st.taskId));
    const lastB = Math.max(...b.map((t) => firstStarts.findIndex((st) => st.taskId === t.id)));
    // When every B started, the 20th of A had not started yet, or started after the last B.
    const twentiethA = aStarts.length >= 20 ? firstStarts.indexOf(aStarts[19]!) : Infinity;
    expect(lastB).toBeLessThan(twentiethA);
    expect(maxOverlap(log)).toBeLessThanOrEqual(2);
    // And nothing of A's backlog is lost: paused again, every A task that has not run yet is
    // counted by the queue (its fair-sharing lanes included) and runs once resumed.
    await s.request('POST', '/v1/queues/fair/pause');
    await new Promise((r) => setTimeout(r, 1500));
    const notRun = a.filter((t) => log.startsOf(t.id) === 0).length;
    const queues = (await (await s.request('GET', '/v1/queues')).json()) as {
      items: { name: string; length: number; pending: number; delayed: number }[];
    };
    const fair = queues.items.find((q) => q.name === 'fair')!;
    expect(fair.length + fair.pending + fair.delayed).toBeGreaterThanOrEqual(notRun);
    expect(notRun).toBeGreaterThan(0);
  });

  it('holds a key:<queue> limit for each key separately', async () => {
    const log = new ExecutionLog();
    stack = await startStack({
      ...opts,
      types: [recordingType(log)],
      config: { FLOW_LIMITS: JSON.stringify({ 'key:tenants': { concurrency: 1 } }) },
    });
    const s = stack;
    await s.request('POST', '/v1/queues/tenants/pause');
    const tasks = ['x', 'y'].flatMap((key) =>
      Array.from({ length: 6 }, () => ({
        type: 'test.record',
        queue: 'tenants',
        concurrencyKey: key,
        payload: { ms: 60 },
      })),
    );
    const submitted = await submitBatch(s, tasks);
    await s.request('POST', '/v1/queues/tenants/resume');
    for (const t of submitted) await s.waitForStatus(t.id, ['succeeded'], 30_000);
    const keyOf = new Map(submitted.map((t: TaskView) => [t.id, t.concurrencyKey]));
    // Per key: never two at once. Across keys: both ran side by side at some point.
    const byKey = (key: string) => {
      const l = new ExecutionLog();
      l.starts.push(...log.starts.filter((st) => keyOf.get(st.taskId) === key));
      l.ends.push(...log.ends.filter((e) => keyOf.get(e.taskId) === key));
      return l;
    };
    expect(maxOverlap(byKey('x'))).toBe(1);
    expect(maxOverlap(byKey('y'))).toBe(1);
    expect(maxOverlap(log)).toBe(2);
  });

  it('refuses a concurrencyKey outside its alphabet or longer than 128 characters, naming the field', async () => {
    stack = await startStack(opts);
    for (const concurrencyKey of ['has space', 'x'.repeat(129), '', 'a|b']) {
      const res = await stack.request('POST', '/v1/tasks', { body: { type: 'demo.echo', concurrencyKey } });
      expect(res.status).toBe(422);
      expect(JSON.stringify(await res.json())).toContain('concurrencyKey');
    }
  });
});
