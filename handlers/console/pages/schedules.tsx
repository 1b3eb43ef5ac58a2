import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { ConflictError, ForbiddenError, ValidationError } from '../../../lib/errors';
import type { FieldProblem } from '../../../lib/errors';
import type { Caller, SchedulePatch } from '../../../lib/schedules/schedule-service';
import { toScheduleView } from '../../../lib/schedules/schedule';
import type { ScheduleView } from '../../../lib/schedules/schedule';
import { zodProblems } from '../../../lib/tasks/submission';
import { encodeCursor } from '../../cursor';
import { routes } from '../../routes';
import { SchedulePatchSchema } from '../../schemas/schedules';
import { ActionButton, Csrf, Json, Notice, TableWrap, Time } from '../components';
import type { ConsoleContext, ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { cursorOf, queryString } from '../filters';
import { formFields } from '../form';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import { csrfOf, needs } from '../session';

const PAGE_SIZE = 50;
const EDITABLE = ['cron', 'timezone', 'missedRuns', 'overlap', 'task'] as const;

/** The signed-in user as the schedules service takes a caller (its scope and the audit's actor). */
function callerOf(c: ConsoleContext): Caller {
  return { principal: c.get('principal'), requestId: c.get('requestId') };
}

/**
 * /ui/schedules: the user's schedules (ops and admin: everyone's) with their next run; pause,
 * resume, run now and edit — through ScheduleService, as /v1/schedules does, with its roles and
 * its scope (another user's schedule is 404 to a dev).
 */
export function scheduleRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { schedules } = d.services;

  ui.get('/schedules', needs(pageRole('/ui/schedules')), async (c) => {
    const cursor = c.req.query('cursor');
    const page = await schedules.list(callerOf(c), { before: cursorOf(cursor), limit: PAGE_SIZE });
    const items = page.items.map(toScheduleView);
    const last = page.items[page.items.length - 1];
    return renderPage(c, {
      title: 'Schedules',
      principal: c.get('principal'),
      csrf: csrfOf(c),
      current: '/ui/schedules',
      children: (
        <>
          <TableWrap label="Schedules">
            <table>
              <caption>Schedules, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Cron</th>
                  <th scope="col">Task type</th>
                  <th scope="col">Next run</th>
                  <th scope="col">Last run</th>
                  <th scope="col">State</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.length === 0 && (
                  <tr>
                    <td colspan={7} class="muted">
                      No schedule yet (POST /v1/schedules makes one).
                    </td>
                  </tr>
                )}
                {items.map((s) => (
                  <tr data-key={s.id}>
                    <th scope="row">
                      <a href={`/ui/schedules/${s.id}`}>{s.name}</a>
                    </th>
                    <td>
                      <code>{s.cron}</code> <span class="muted">{s.timezone}</span>
                    </td>
                    <td>{typeof s.task.type === 'string' ? s.task.type : '—'}</td>
                    <td>
                      {s.paused ? <span class="muted">none while paused</span> : <Time at={s.nextRunAt} />}
                    </td>
                    <td>
                      <Time at={s.lastRunAt} />
                    </td>
                    <td>
                      <State s={s} />
                    </td>
                    <td class="row-actions">
                      <ScheduleActions s={s} csrf={csrfOf(c)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <nav class="pager" aria-label="Pages">
            {cursor && <a href="/ui/schedules">Newest</a>}
            {page.more && last && (
              <a href={`/ui/schedules${queryString({ cursor: encodeCursor(last.id) })}`}>Older</a>
            )}
          </nav>
        </>
      ),
    });
  });

  const edit = (
    c: ConsoleContext,
    s: ScheduleView,
    problems: FieldProblem[] = [],
    input?: Record<string, string>,
    status: 200 | 403 | 409 | 422 = 200,
  ) =>
    renderPage(
      c,
      {
        title: `Schedule ${s.name}`,
        principal: c.get('principal'),
        csrf: csrfOf(c),
        current: '/ui/schedules',
        ...(problems.length
          ? { notice: ['error', problems.map((x) => `${x.path}: ${x.message}`).join('; ')] as const }
          : {}),
        children: <ScheduleDetail s={s} csrf={csrfOf(c)} problems={problems} input={input} />,
      },
      status,
    );

  ui.get('/schedules/:id', needs(routes.getSchedule.access), async (c) =>
    edit(c, toScheduleView(await schedules.get(callerOf(c), c.req.param('id')))),
  );

  ui.post('/schedules/:id', needs(routes.updateSchedule.access), async (c) => {
    const s = toScheduleView(await schedules.get(callerOf(c), c.req.param('id')));
    const form = await formFields(c);
    const input = Object.fromEntries(EDITABLE.map((k) => [k, form.one(k) ?? '']));
    let raw: unknown;
    try {
      raw = input.task ? (JSON.parse(input.task) as unknown) : undefined;
    } catch (err) {
      return edit(
        c,
        s,
        [{ path: 'task', message: `is not valid JSON (${(err as Error).message})` }],
        input,
        422,
      );
    }
    // The fields as PATCH /v1/schedules/:id validates them; only what was filled in changes.
    const body = Object.fromEntries(
      Object.entries({ ...input, task: raw }).filter(([, v]) => v !== '' && v !== undefined),
    );
    const parsed = SchedulePatchSchema.safeParse(body);
    if (!parsed.success) return edit(c, s, zodProblems('', parsed.error), input, 422);
    const { task, ...rest } = parsed.data;
    const patch: SchedulePatch = {
      ...rest,
      ...(task ? { task: { accepted: task, raw: raw as Record<string, unknown> } } : {}),
    };
    try {
      await schedules.update(callerOf(c), s.id, patch);
    } catch (err) {
      if (err instanceof ValidationError)
        return edit(
          c,
          s,
          err.extra.errors?.length ? err.extra.errors : [{ path: '(schedule)', message: err.message }],
          input,
          422,
        );
      if (err instanceof ForbiddenError || err instanceof ConflictError)
        return edit(c, s, [{ path: '(schedule)', message: err.message }], input, err.status as 403 | 409);
      throw err;
    }
    return c.redirect(withNotice(`/ui/schedules/${s.id}`, 'schedule-saved'), 303);
  });

  ui.post('/schedules/:id/pause', needs(routes.pauseSchedule.access), async (c) => {
    await schedules.setPaused(callerOf(c), c.req.param('id'), true);
    return c.redirect(withNotice('/ui/schedules', 'schedule-paused'), 303);
  });

  ui.post('/schedules/:id/resume', needs(routes.resumeSchedule.access), async (c) => {
    await schedules.setPaused(callerOf(c), c.req.param('id'), false);
    return c.redirect(withNotice('/ui/schedules', 'schedule-resumed'), 303);
  });

  ui.post('/schedules/:id/trigger', needs(routes.triggerSchedule.access), async (c) => {
    const task = await schedules.trigger(callerOf(c), c.req.param('id'));
    return c.redirect(`/ui/tasks/${task.id}`, 303);
  });
}

const State: FC<{ s: ScheduleView }> = ({ s }) =>
  s.paused ? (
    <>
      <span class="status status-paused">paused</span>
      {s.pausedReason && <span class="muted"> ({s.pausedReason})</span>}
    </>
  ) : (
    <span class="status status-active">active</span>
  );

const ScheduleActions: FC<{ s: ScheduleView; csrf: string }> = ({ s, csrf }) => (
  <>
    {s.paused ? (
      <ActionButton
        action={`/ui/schedules/${s.id}/resume`}
        csrf={csrf}
        label="Resume"
        ariaLabel={`Resume schedule ${s.name}`}
      />
    ) : (
      <ActionButton
        action={`/ui/schedules/${s.id}/pause`}
        csrf={csrf}
        label="Pause"
        ariaLabel={`Pause schedule ${s.name}`}
      />
    )}
    <ActionButton
      action={`/ui/schedules/${s.id}/trigger`}
      csrf={csrf}
      label="Run now"
      ariaLabel={`Run now: schedule ${s.name}`}
    />
    <a href={`/ui/schedules/${s.id}`} aria-label={`Edit schedule ${s.name}`}>
      Edit
    </a>
  </>
);

const ScheduleDetail: FC<{
  s: ScheduleView;
  csrf: string;
  problems: FieldProblem[];
  input?: Record<string, string>;
}> = ({ s, csrf, problems, input }) => {
  const bad = (f: string) =>
    problems.some((p) => p.path === f || p.path.startsWith(`${f}.`)) ? { 'aria-invalid': 'true' } : {};
  const v = (k: string, fallback: string) => input?.[k] ?? fallback;
  return (
    <>
      <p class="breadcrumbs">
        <a href="/ui/schedules">Schedules</a> › {s.name}
      </p>
      {problems.length > 0 && <Notice kind="error">Nothing was saved; fix the fields marked below.</Notice>}
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <State s={s} />
        </dd>
        <dt>Next run</dt>
        <dd>{s.paused ? 'none while paused' : <Time at={s.nextRunAt} />}</dd>
        <dt>Last run</dt>
        <dd>
          <Time at={s.lastRunAt} />
          {s.lastTaskId && (
            <>
              {' '}
              (<a href={`/ui/tasks/${s.lastTaskId}`}>its task</a>)
            </>
          )}
        </dd>
        <dt>Owner</dt>
        <dd>
          <code>{s.createdBy}</code>
        </dd>
      </dl>
      <div class="actions">
        <ScheduleActions s={s} csrf={csrf} />
      </div>
      <section aria-labelledby="edit-h">
        <h2 id="edit-h">Edit</h2>
        <form method="post" action={`/ui/schedules/${s.id}`} class="stacked">
          <Csrf token={csrf} />
          <div class="field">
            <label for="s-cron">Cron (5 fields, or 6 with seconds first)</label>
            <input
              id="s-cron"
              name="cron"
              value={v('cron', s.cron)}
              required
              maxlength={200}
              {...bad('cron')}
            />
          </div>
          <div class="field">
            <label for="s-tz">Time zone (IANA)</label>
            <input
              id="s-tz"
              name="timezone"
              value={v('timezone', s.timezone)}
              required
              maxlength={64}
              {...bad('timezone')}
            />
          </div>
          <div class="field">
            <label for="s-missed">Missed runs</label>
            <select id="s-missed" name="missedRuns" {...bad('missedRuns')}>
              {['skip', 'runOnce'].map((m) => (
                <option value={m} selected={v('missedRuns', s.missedRuns) === m}>
                  {m}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="s-overlap">Overlap</label>
            <select id="s-overlap" name="overlap" {...bad('overlap')}>
              {['allow', 'skip'].map((m) => (
                <option value={m} selected={v('overlap', s.overlap) === m}>
                  {m}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="s-task">Task (JSON: a submission without delayMs and runAt)</label>
            <textarea id="s-task" name="task" rows={10} spellcheck={false} {...bad('task')}>
              {v('task', JSON.stringify(s.task, null, 2))}
            </textarea>
          </div>
          <button type="submit">Save</button>
        </form>
      </section>
      <section aria-labelledby="now-h">
        <h2 id="now-h">As stored</h2>
        <Json value={s} label="The schedule" />
      </section>
    </>
  );
};
