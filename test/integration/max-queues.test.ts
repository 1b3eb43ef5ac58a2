import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Stack } from '../helpers/stack';
import { STACK_VARIANTS, startStack, taskCount } from '../helpers/stack';

// MAX_QUEUES: every new queue name is kept for good and read by every worker's loops, so a dev
// must not be able to create them without end.

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe.each(STACK_VARIANTS)('MAX_QUEUES on $name', ({ opts }) => {
  it('refuses the submission that would create one queue too many with 422 naming the limit', async () => {
    stack = await startStack({ ...opts, worker: false, config: { MAX_QUEUES: '3' } });
    const dev = await stack.user('dev');
    const submit = (queue: string) =>
      stack!.request('POST', '/v1/tasks', { token: dev.token, body: { type: 'demo.echo', queue } });
    for (const q of ['q1', 'q2', 'q3']) expect((await submit(q)).status).toBe(202);
    const refused = await submit('q4');
    expect(refused.status).toBe(422);
    const problem = (await refused.json()) as { detail: string; errors: { path: string; message: string }[] };
    expect(problem.detail).toContain('MAX_QUEUES');
    expect(problem.errors).toEqual([{ path: 'queue', message: expect.stringContaining('"q4"') as string }]);
    // Existing queues still take tasks; nothing of the refused one was stored.
    expect((await submit('q2')).status).toBe(202);
    expect(await taskCount(stack)).toBe(4);
    const info = (await (await stack.request('GET', '/v1/system/info')).json()) as {
      queues: number;
      maxQueues: number;
    };
    expect(info).toMatchObject({ queues: 3, maxQueues: 3 });
  });

  it('refuses a whole batch that would pass the limit, naming the item', async () => {
    stack = await startStack({ ...opts, worker: false, config: { MAX_QUEUES: '2' } });
    expect(
      (await stack.request('POST', '/v1/tasks', { body: { type: 'demo.echo', queue: 'a' } })).status,
    ).toBe(202);
    const res = await stack.request('POST', '/v1/tasks/batch', {
      body: {
        tasks: [
          { type: 'demo.echo', queue: 'a' },
          { type: 'demo.echo', queue: 'b' },
          { type: 'demo.echo', queue: 'c' },
        ],
      },
    });
    expect(res.status).toBe(422);
    const problem = (await res.json()) as { errors: { path: string }[] };
    expect(problem.errors.map((e) => e.path)).toEqual(['tasks[1].queue', 'tasks[2].queue']);
    expect(await taskCount(stack)).toBe(1);
  });

  it('lets exactly MAX_QUEUES names in when many new ones arrive at once', async () => {
    stack = await startStack({ ...opts, worker: false, config: { MAX_QUEUES: '5' } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        stack!.request('POST', '/v1/tasks', { body: { type: 'demo.echo', queue: `burst-${i}` } }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 422)).toHaveLength(7);
    const [row] = await stack.database.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM queue_states`);
    expect(row!.n).toBe(5);
  });
});
