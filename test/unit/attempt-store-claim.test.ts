import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Database } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import { newClaimIds } from '../../lib/tasks/attempt-batches';
import { AttemptStore } from '../../lib/tasks/attempt-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { newTaskTrace } from '../../lib/tasks/task-trace';
import { openTestPglite } from '../helpers/databases';

/**
 * A recovered message is claimed in two looks: the claim statement, then (when it changed
 * nothing) a read that says why. A lease can run out between the two: the message went idle
 * from its delivery, the lease runs from its claim. The task then still has attempts left
 * and must be taken over, not ended.
 */
let database: Database;
beforeEach(async () => {
  database = await openTestPglite();
});
afterEach(async () => {
  await database.close();
});

async function runningTask(
  attempts: number,
  maxAttempts: number,
  leaseExpiredMsAgo: number,
): Promise<string> {
  const id = newId();
  await new TaskStore(database, { listTimeoutMs: 5000 }).insert([
    {
      id,
      type: 'demo.echo',
      queue: 'default',
      priority: 'normal',
      concurrencyKey: null,
      payload: {},
      maxAttempts,
      timeoutMs: 1000,
      runAt: null,
      delayMs: 0,
      callbackUrl: null,
      metadata: {},
      createdBy: 'u',
      idempotencyKey: null,
      requestHash: null,
      dependsOn: [],
      ...newTaskTrace(),
    },
  ]);
  await database.rows(sql`
    UPDATE tasks SET status = 'running', attempts = ${attempts}, lease_epoch = ${attempts},
      lease_owner = 'lost-worker', started_at = now(),
      lease_expires_at = now() - ${leaseExpiredMsAgo} * interval '1 millisecond'
    WHERE id = ${id}::uuid`);
  return id;
}

/** The claim statement answers as it would have a moment before the lease ran out. */
function claimStatementRunsEarly(db: Database): Database {
  let early = true;
  return {
    ...db,
    prepared: <T>(name: string, text: string, values: unknown[]) => {
      if (name === 'procurator_claim' && early) {
        early = false;
        return Promise.resolve([] as T[]);
      }
      return db.prepared<T>(name, text, values);
    },
  };
}

it('takes over a task whose lease ran out between the claim and the look, attempts left', async () => {
  const id = await runningTask(1, 5, 10);
  const result = await new AttemptStore(claimStatementRunsEarly(database)).claim(
    { taskId: id, seq: 1, ids: newClaimIds() },
    'rescuer',
    30_000,
  );
  expect(result.kind).toBe('claimed');
  expect(result.kind === 'claimed' && result.recovered).toBe(true);
  const [row] = await database.rows<{ status: string; attempts: number; lease_owner: string }>(
    sql`SELECT status, attempts, lease_owner FROM tasks WHERE id = ${id}::uuid`,
  );
  expect(row).toEqual({ status: 'running', attempts: 2, lease_owner: 'rescuer' });
  const kinds = await database.rows<{ kind: string }>(
    sql`SELECT kind FROM task_events WHERE task_id = ${id}::uuid ORDER BY id`,
  );
  expect(kinds.map((k) => k.kind)).toEqual(['submitted', 'recovered', 'started']);
});

it('ends a task whose lost attempt was its last one: dead, worker_lost', async () => {
  const id = await runningTask(3, 3, 10);
  const result = await new AttemptStore(database).claim(
    { taskId: id, seq: 1, ids: newClaimIds() },
    'rescuer',
    30_000,
  );
  expect(result.kind).toBe('exhausted');
  const [row] = await database.rows<{ status: string; attempts: number; code: string }>(
    sql`SELECT status, attempts, last_error->>'code' AS code FROM tasks WHERE id = ${id}::uuid`,
  );
  expect(row).toEqual({ status: 'dead', attempts: 3, code: 'worker_lost' });
});

it('leaves a task whose lease is still live to its worker', async () => {
  const id = await runningTask(1, 5, -60_000);
  const result = await new AttemptStore(database).claim(
    { taskId: id, seq: 1, ids: newClaimIds() },
    'rescuer',
    30_000,
  );
  expect(result).toEqual({ kind: 'busy', owner: 'lost-worker' });
  const [row] = await database.rows<{ lease_owner: string }>(
    sql`SELECT lease_owner FROM tasks WHERE id = ${id}::uuid`,
  );
  expect(row!.lease_owner).toBe('lost-worker');
});
