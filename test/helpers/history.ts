import { sql } from 'drizzle-orm';
import type { Database } from '../../lib/db/client';
import { newId } from '../../lib/ids';
import type { TaskStatus } from '../../lib/tasks/task';

export interface SeededTask {
  status: TaskStatus;
  /** How long ago the task reached its status (and was created). */
  agoMs: number;
  queue?: string;
  idempotencyKey?: string;
}

/**
 * Writes a task as if it had reached `status` `agoMs` ago, with two events and one callback
 * delivery, so that a test can see what retention deletes with it. Returns its id.
 */
export async function seedTask(database: Database, t: SeededTask): Promise<string> {
  const id = newId();
  const at = sql`now() - ${t.agoMs} * interval '1 millisecond'`;
  const ended = ['succeeded', 'cancelled', 'discarded', 'dead'].includes(t.status);
  await database.rows(sql`
    WITH task AS (
      INSERT INTO tasks (id, type, queue, priority, status, payload, max_attempts, timeout_ms, created_by,
                         idempotency_key, request_hash, created_at, updated_at, finished_at)
      VALUES (${id}::uuid, 'demo.echo', ${t.queue ?? 'default'}, 'normal', ${t.status}, '{}'::jsonb, 5, 60000,
              'seeder', ${t.idempotencyKey ?? null}, ${t.idempotencyKey ? 'hash' : null}, ${at}, ${at},
              ${ended ? at : null})
      RETURNING id
    ), ev AS (
      INSERT INTO task_events (id, task_id, at, kind, attempt)
      SELECT v.id, task.id, ${at}, v.kind, 0 FROM task, (VALUES (${newId()}::uuid, 'submitted'), (${newId()}::uuid, 'started')) AS v(id, kind)
    )
    INSERT INTO callback_deliveries (id, task_id, event, url, status)
    SELECT ${newId()}::uuid, task.id, 'task.' || ${t.status}, 'http://127.0.0.1:9/cb', 'delivered' FROM task`);
  return id;
}

/** Makes a task (and its Idempotency-Key) look as if it had been created and ended `agoMs` ago. */
export async function ageTask(database: Database, id: string, agoMs: number): Promise<void> {
  await database.rows(sql`
    UPDATE tasks SET created_at = now() - ${agoMs} * interval '1 millisecond',
                     updated_at = now() - ${agoMs} * interval '1 millisecond'
    WHERE id = ${id}::uuid`);
}

/** How many rows of each table name the task (tasks, task_events, callback_deliveries). */
export async function rowsOf(
  database: Database,
  id: string,
): Promise<{ tasks: number; events: number; callbacks: number }> {
  const [row] = await database.rows<{ tasks: number; events: number; callbacks: number }>(sql`
    SELECT (SELECT count(*) FROM tasks WHERE id = ${id}::uuid)::int AS tasks,
           (SELECT count(*) FROM task_events WHERE task_id = ${id}::uuid)::int AS events,
           (SELECT count(*) FROM callback_deliveries WHERE task_id = ${id}::uuid)::int AS callbacks`);
  return row!;
}
