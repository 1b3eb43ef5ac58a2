// First: zod 4 gives each schema its methods when it is made, so the route table's `.openapi()`
// exists only on schemas made after @hono/zod-openapi has extended zod (as the API's own entry does).
import '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { buildSubmitService } from '../../compose/build-submit';
import { builtinCatalog } from '../../compose/task-catalog';
import { silentLogger } from '../../lib/logger';
import { QueueRegistry } from '../../lib/queue/queue-registry';
import { FiringStore } from '../../lib/schedules/firing-store';
import type { ScheduleView } from '../../lib/schedules/schedule';
import { toDateOrNull } from '../../lib/tasks/task-row';
import { DependencyStore } from '../../lib/tasks/dependency-store';
import { TaskStore } from '../../lib/tasks/task-store';
import { ScheduleFirer } from '../../worker/schedule-firer';
import type { Stack } from './stack';

/**
 * A schedule firer over a stack's database and queue, driven by its tick() (no timer);
 * `wrap` may change its store (failure injection).
 */
export function testFirer(
  stack: Stack,
  workerId = 'firer-1',
  wrap: (store: FiringStore) => FiringStore = (s) => s,
): ScheduleFirer {
  const tasks = new TaskStore(stack.database, { listTimeoutMs: 5000 });
  return new ScheduleFirer({
    store: wrap(new FiringStore(stack.database, tasks)),
    users: stack.services.users,
    submit: buildSubmitService({
      config: stack.config,
      tasks,
      dependencies: new DependencyStore(stack.database),
      queue: stack.queue,
      catalog: builtinCatalog(stack.config),
      queues: new QueueRegistry(stack.database, stack.config.MAX_QUEUES),
      events: stack.events,
      logger: silentLogger(),
    }),
    events: stack.events,
    logger: silentLogger(),
    workerId,
    intervalMs: 250,
  });
}

/** Creates a schedule through the API (201). */
export async function createSchedule(
  stack: Stack,
  token: string,
  body: Record<string, unknown>,
): Promise<ScheduleView> {
  const res = await stack.request('POST', '/v1/schedules', { token, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as ScheduleView;
}

/** The tasks a schedule fired, by due time (`runAt`; a trigger's has none), oldest first. */
export async function firedTasks(
  stack: Stack,
  scheduleId: string,
): Promise<{ id: string; runAt: Date | null; status: string }[]> {
  const rows = await stack.database.rows<{ id: string; run_at: string | null; status: string }>(
    sql`SELECT id::text, run_at::text, status FROM tasks WHERE schedule_id = ${scheduleId}::uuid ORDER BY COALESCE(run_at, created_at), id`,
  );
  return rows.map((r) => ({
    id: r.id,
    runAt: toDateOrNull(r.run_at),
    status: r.status,
  }));
}
