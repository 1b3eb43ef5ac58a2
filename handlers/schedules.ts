import type { Context } from 'hono';
import type { Caller, ScheduleService, TemplateInput } from '../lib/schedules/schedule-service';
import { toScheduleView } from '../lib/schedules/schedule';
import { toTaskView } from '../lib/tasks/task';
import type { Api } from './api';
import type { AppEnv } from './context';
import { decodeCursor, pageAnswer } from './cursor';
import { routes } from './routes';

function callerOf(c: Context<AppEnv>): Caller {
  return { principal: c.get('principal'), requestId: c.get('requestId') };
}

/** The template as the validator accepted it, beside the object as sent (stored as sent). */
async function template(
  c: Context<AppEnv>,
  accepted: TemplateInput['accepted'] | undefined,
): Promise<TemplateInput | undefined> {
  if (!accepted) return undefined;
  const body = await c.req.json<{ task: Record<string, unknown> }>();
  return { accepted, raw: body.task };
}

/**
 * /v1/schedules (README "Schedules"): a dev manages its own schedules, ops and admin every
 * one; another user's schedule is 404 to a dev.
 */
export function scheduleRoutes(app: Api, d: { schedules: ScheduleService }): void {
  app.openapi(routes.createSchedule.route, async (c) => {
    const b = c.req.valid('json');
    const created = await d.schedules.create(callerOf(c), {
      name: b.name,
      cron: b.cron,
      timezone: b.timezone,
      task: (await template(c, b.task))!,
      missedRuns: b.missedRuns,
      overlap: b.overlap,
      paused: b.paused,
    });
    c.header('Location', `/v1/schedules/${created.id}`);
    return c.json(toScheduleView(created), 201);
  });

  app.openapi(routes.listSchedules.route, async (c) => {
    const q = c.req.valid('query');
    const page = await d.schedules.list(callerOf(c), { before: decodeCursor(q.cursor), limit: q.limit });
    return c.json(pageAnswer(page, toScheduleView), 200);
  });

  app.openapi(routes.getSchedule.route, async (c) =>
    c.json(toScheduleView(await d.schedules.get(callerOf(c), c.req.valid('param').id)), 200),
  );

  app.openapi(routes.updateSchedule.route, async (c) => {
    const b = c.req.valid('json');
    const updated = await d.schedules.update(callerOf(c), c.req.valid('param').id, {
      ...b,
      task: await template(c, b.task),
    });
    return c.json(toScheduleView(updated), 200);
  });

  app.openapi(routes.pauseSchedule.route, async (c) =>
    c.json(toScheduleView(await d.schedules.setPaused(callerOf(c), c.req.valid('param').id, true)), 200),
  );

  app.openapi(routes.resumeSchedule.route, async (c) =>
    c.json(toScheduleView(await d.schedules.setPaused(callerOf(c), c.req.valid('param').id, false)), 200),
  );

  app.openapi(routes.triggerSchedule.route, async (c) => {
    const task = await d.schedules.trigger(callerOf(c), c.req.valid('param').id);
    c.header('Location', `/v1/tasks/${task.id}`);
    return c.json(toTaskView(task), 202);
  });

  app.openapi(routes.deleteSchedule.route, async (c) => {
    await d.schedules.delete(callerOf(c), c.req.valid('param').id);
    return c.body(null, 204);
  });
}
