import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { NotFoundError, ProblemError, ValidationError } from '../../../lib/errors';
import type { FieldProblem } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import { ActionButton, Csrf, Json, Notice, TableWrap, Time } from '../components';
import type { ConsoleContext, ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { queryString } from '../filters';
import { formFields } from '../form';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import type { ConsoleSchedules, ScheduleView, SchedulePatch } from '../schedules-port';
import { actorOf, csrfOf, needs } from '../session';

const PAGE_SIZE = 50;

/**
 * /ui/schedules: the user's schedules (ops: everyone's) with their next run; pause, resume,
 * trigger and edit — through the schedules service, as /v1/schedules does. Without that
 * service in the build, the page says so.
 */
export function scheduleRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const role = pageRole('/ui/schedules');
  const service = (): ConsoleSchedules => {
    const s = d.services.schedules;
    if (!s) throw new NotFoundError('Schedules are not part of this build of Procurator.');
    return s;
  };
  const find = async (c: ConsoleContext): Promise<ScheduleView> => {
    const id = c.req.param('id') ?? '';
    const s = isUuid(id) ? await service().get(c.get('principal'), id) : null;
    if (!s) throw new NotFoundError(`No schedule ${id.slice(0, 100)} (or not one you may see).`);
    return s;
  };

  ui.get('/schedules', needs(role), async (c) => {
    const p = c.get('principal');
    const base = { title: 'Schedules', principal: p, csrf: csrfOf(c), current: '/ui/schedules' };
    if (!d.services.schedules) {
      return renderPage(c, { ...base, children: <p>Schedules are not part of this build of Procurator.</p> });
    }
    const cursor = c.req.query('cursor');
    const page = await d.services.schedules.list(p, {
      ...(cursor ? { cursor: cursor.slice(0, 200) } : {}),
      limit: PAGE_SIZE,
    });
    return renderPage(c, {
      ...base,
      children: (
        <>
          <TableWrap label="Schedules">
            <table>
              <caption>Schedules</caption>
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
                {page.items.length === 0 && (
                  <tr>
                    <td colspan={7} class="muted">
                      No schedule yet (POST /v1/schedules makes one).
                    </td>
                  </tr>
                )}
                {page.items.map((s) => (
                  <tr data-key={s.id}>
                    <th scope="row">
                      <a href={`/ui/schedules/${s.id}`}>{s.name}</a>
                    </th>
                    <td>
                      <code>{s.cron}</code> <span class="muted">{s.timezone}</span>
                    </td>
                    <td>{typeof s.task.type === 'string' ? s.task.type : '—'}</td>
                    <td>{s.paused ? <span class="muted">paused</span> : <Time at={s.nextRunAt} />}</td>
                    <td>
                      <Time at={s.lastRunAt} />
                    </td>
                    <td>
                      <span class={`status status-${s.paused ? 'paused' : 'active'}`}>
                        {s.paused ? 'paused' : 'active'}
                      </span>
                    </td>
                    <td class="row-actions">
                      <ScheduleActions s={s} csrf={csrfOf(c)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          {page.nextCursor && (
            <nav class="pager" aria-label="Pages">
              <a href={`/ui/schedules${queryString({ cursor: page.nextCursor })}`}>More</a>
            </nav>
          )}
        </>
      ),
    });
  });

  const edit = (
    c: ConsoleContext,
    s: ScheduleView,
    problems: FieldProblem[] = [],
    input?: Record<string, string>,
    status: 200 | 422 = 200,
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

  ui.get('/schedules/:id', needs(role), async (c) => edit(c, await find(c)));

  ui.post('/schedules/:id', needs(role), async (c) => {
    const s = await find(c);
    const form = await formFields(c);
    const input = Object.fromEntries(
      (['cron', 'timezone', 'missedRuns', 'overlap', 'task'] as const).map((k) => [k, form.one(k) ?? '']),
    );
    const patch: SchedulePatch = {};
    if (input.cron) patch.cron = input.cron;
    if (input.timezone) patch.timezone = input.timezone;
    if (input.missedRuns) patch.missedRuns = input.missedRuns;
    if (input.overlap) patch.overlap = input.overlap;
    if (input.task) {
      try {
        patch.task = JSON.parse(input.task) as unknown;
      } catch (err) {
        return edit(
          c,
          s,
          [{ path: 'task', message: `is not valid JSON (${(err as Error).message})` }],
          input,
          422,
        );
      }
    }
    try {
      await service().update(actorOf(c), s.id, patch);
    } catch (err) {
      if (err instanceof ValidationError)
        return edit(c, s, err.extra.errors ?? [{ path: '(schedule)', message: err.message }], input, 422);
      if (err instanceof ProblemError && err.status === 409)
        return edit(c, s, [{ path: '(schedule)', message: err.message }], input, 422);
      throw err;
    }
    return c.redirect(withNotice(`/ui/schedules/${s.id}`, 'schedule-saved'), 303);
  });

  ui.post('/schedules/:id/pause', needs(role), async (c) => {
    const s = await find(c);
    await service().pause(actorOf(c), s.id);
    return c.redirect(withNotice('/ui/schedules', 'schedule-paused'), 303);
  });

  ui.post('/schedules/:id/resume', needs(role), async (c) => {
    const s = await find(c);
    await service().resume(actorOf(c), s.id);
    return c.redirect(withNotice('/ui/schedules', 'schedule-resumed'), 303);
  });

  ui.post('/schedules/:id/trigger', needs(role), async (c) => {
    const s = await find(c);
    const task = await service().trigger(actorOf(c), s.id);
    return c.redirect(`/ui/tasks/${task.id}`, 303);
  });
}

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
        <dd>{s.paused ? 'paused' : 'active'}</dd>
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
              maxlength={100}
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
