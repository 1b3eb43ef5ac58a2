import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { BadRequestError, NotFoundError, ValidationError } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import type { TaskRecord } from '../../../lib/tasks/task';
import { cutText } from '../../../lib/text';
import { encodeCursor } from '../../cursor';
import { routes } from '../../routes';
import { BULK_CHUNK, BULK_LIMIT, BulkConfirm, runBulk } from '../bulk';
import type { Chunk } from '../bulk';
import { ActionButton, Csrf, Notice, SelectTaskCell, TableWrap, TaskLink, Time } from '../components';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { DlqFilterSchema, cursorOf, filterParams, parseFilter, queryString, selectedIds } from '../filters';
import { formFields, queryRecord } from '../form';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import { actorOf, csrfOf, needs, safeNext } from '../session';

const FIELDS = ['type', 'queue'] as const;
const PAGE_SIZE = 50;

/**
 * /ui/dlq: dead tasks with their last error; replay and delete one, the selection, or all the
 * filter matches — through TaskCommands, as /v1/dlq does, with its roles.
 */
export function dlqRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { tasks, commands } = d.services;

  ui.get('/dlq', needs(pageRole('/ui/dlq')), async (c) => {
    const parsed = parseFilter(DlqFilterSchema, queryRecord(c, FIELDS));
    const filter = parsed.ok ? parsed.value : {};
    const cursor = c.req.query('cursor');
    const page = parsed.ok
      ? await tasks.list({ ...filter, status: 'dead', before: cursorOf(cursor), limit: PAGE_SIZE })
      : { items: [], more: false };
    const params = filterParams(filter);
    const here = `/ui/dlq${queryString(cursor ? { ...params, cursor } : params)}`;
    const last = page.items[page.items.length - 1];
    const csrf = csrfOf(c);
    return renderPage(
      c,
      {
        title: 'Dead letters',
        principal: c.get('principal'),
        csrf,
        current: '/ui/dlq',
        children: (
          <>
            {!parsed.ok && (
              <Notice kind="error">{parsed.problems.map((x) => `${x.path}: ${x.message}`).join('; ')}</Notice>
            )}
            <p>
              Tasks that failed for good: attempts used up, or an error that no retry fixes. Replay one to run
              it again from its first attempt.
            </p>
            <form method="get" action="/ui/dlq" class="filters">
              <fieldset>
                <legend>Filter</legend>
                <div class="field">
                  <label for="d-type">Type</label>
                  <select id="d-type" name="type">
                    <option value="">any</option>
                    {d.catalog.list().map((t) => (
                      <option value={t.type} selected={filter.type === t.type}>
                        {t.type}
                      </option>
                    ))}
                  </select>
                </div>
                <div class="field">
                  <label for="d-queue">Queue</label>
                  <input id="d-queue" name="queue" value={filter.queue ?? ''} maxlength={64} />
                </div>
                <div class="actions">
                  <button type="submit">Apply</button> <a href="/ui/dlq">Clear</a>
                </div>
              </fieldset>
            </form>
            <DeadTable tasks={page.items} csrf={csrf} back={here} />
            <nav class="pager" aria-label="Pages">
              {cursor && <a href={`/ui/dlq${queryString(params)}`}>Newest</a>}
              {page.more && last && (
                <a href={`/ui/dlq${queryString({ ...params, cursor: encodeCursor(last.id) })}`}>Older</a>
              )}
            </nav>
            <section aria-labelledby="dlq-bulk-h" class="bulk-actions">
              <h2 id="dlq-bulk-h">In bulk</h2>
              <form id="dlq-selection" method="post" action="/ui/dlq/replay" class="inline">
                <Csrf token={csrf} />
                <input type="hidden" name="scope" value="selected" />
                <button type="submit">Replay selected…</button>{' '}
                <button type="submit" formaction="/ui/dlq/delete" class="danger">
                  Delete selected…
                </button>
              </form>{' '}
              <form method="post" action="/ui/dlq/replay" class="inline">
                <Csrf token={csrf} />
                <input type="hidden" name="scope" value="filter" />
                {Object.entries(params).map(([k, v]) => (
                  <input type="hidden" name={k} value={v} />
                ))}
                <button type="submit">Replay all matching…</button>{' '}
                <button type="submit" formaction="/ui/dlq/delete" class="danger">
                  Delete all matching…
                </button>
              </form>
              <p class="hint">Each shows how many tasks it would change and asks you to confirm.</p>
            </section>
          </>
        ),
      },
      parsed.ok ? 200 : 422,
    );
  });

  ui.post('/dlq/:id/replay', needs(routes.replayDeadTask.access), async (c) => {
    const id = c.req.param('id');
    const form = await formFields(c);
    const task = isUuid(id) ? await commands.replay(actorOf(c), id) : null;
    if (!task)
      throw new NotFoundError(`No dead task ${id.slice(0, 100)} (it may have been replayed already).`);
    return c.redirect(withNotice(safeNext(form.one('back')) ?? `/ui/tasks/${task.id}`, 'replayed', 1), 303);
  });

  ui.post('/dlq/:id/delete', needs(routes.deleteDeadTask.access), async (c) => {
    const id = c.req.param('id');
    const form = await formFields(c);
    const task = isUuid(id) ? await commands.discard(actorOf(c), id) : null;
    if (!task) throw new NotFoundError(`No dead task ${id.slice(0, 100)}.`);
    return c.redirect(withNotice(safeNext(form.one('back')) ?? '/ui/dlq', 'deleted', 1), 303);
  });

  for (const verb of ['replay', 'delete'] as const) {
    const role = verb === 'replay' ? routes.replayDeadTasks.access : routes.deleteDeadTask.access;
    ui.post(`/dlq/${verb}`, needs(role), async (c) => {
      const form = await formFields(c);
      const actor = actorOf(c);
      /** One chunk's ids through the service: one replay statement, or one discard each. */
      const apply = async (ids: string[]): Promise<Record<string, number>> => {
        if (verb === 'replay') return { done: (await commands.replayMatching(actor, { ids })).length };
        let done = 0;
        for (const id of ids) if (await commands.discard(actor, id)) done++;
        return { done };
      };
      let count: { n: number; capped: boolean };
      let fields: [string, string][];
      let chunk: Chunk;
      let back = '/ui/dlq';
      const scope = form.one('scope');
      if (scope === 'selected') {
        const ids = selectedIds(form.all('id'), BULK_LIMIT);
        if (ids.length === 0) throw new BadRequestError('No task was selected: tick the dead tasks first.');
        count = { n: ids.length, capped: false };
        fields = [['scope', 'selected'], ...ids.map((id): [string, string] => ['id', id])];
        chunk = async (cursor) => {
          const at = cursor === null ? 0 : Number.parseInt(cursor, 10);
          const slice = ids.slice(at, at + BULK_CHUNK);
          const next = at + slice.length;
          return {
            processed: slice.length,
            counts: await apply(slice),
            cursor: next < ids.length ? String(next) : null,
          };
        };
      } else if (scope === 'filter') {
        const parsed = parseFilter(DlqFilterSchema, form.record(FIELDS));
        if (!parsed.ok) throw new ValidationError('The filter is invalid.', parsed.problems);
        const filter = parsed.value;
        count = await tasks.count({ ...filter, status: 'dead' });
        const params = filterParams(filter);
        fields = [['scope', 'filter'], ...Object.entries(params)];
        back = `/ui/dlq${queryString(params)}`;
        chunk = async (cursor) => {
          if (cursor !== null && !isUuid(cursor)) throw new BadRequestError('The bulk cursor is invalid.');
          const page = await tasks.list({
            ...filter,
            status: 'dead',
            before: cursor ?? undefined,
            limit: BULK_CHUNK,
          });
          const last = page.items[page.items.length - 1];
          return {
            processed: page.items.length,
            counts: await apply(page.items.map((t) => t.id)),
            cursor: page.more && last ? last.id : null,
          };
        };
      } else {
        throw new BadRequestError(`Say what to ${verb}: scope is "selected" or "filter".`);
      }
      if (form.one('confirm') === undefined) {
        return renderPage(c, {
          title: verb === 'replay' ? 'Replay dead tasks' : 'Delete dead tasks',
          principal: c.get('principal'),
          csrf: csrfOf(c),
          current: '/ui/dlq',
          children: (
            <BulkConfirm
              action={`/ui/dlq/${verb}`}
              csrf={csrfOf(c)}
              count={count.n}
              capped={count.capped}
              verb={verb === 'replay' ? 'Replay' : 'Delete for good'}
              what={count.n === 1 ? 'dead task' : 'dead tasks'}
              fields={fields}
              back={back}
              danger={verb === 'delete'}
              doneLabel={verb === 'replay' ? 'replayed' : 'deleted'}
            />
          ),
        });
      }
      return runBulk(c, form, chunk, (totals) =>
        withNotice(back, verb === 'replay' ? 'replayed' : 'deleted', totals.done ?? 0),
      );
    });
  }
}

const DeadTable: FC<{ tasks: TaskRecord[]; csrf: string; back: string }> = ({ tasks, csrf, back }) => (
  <TableWrap label="Dead tasks">
    <table class="dead">
      <caption>Dead tasks, newest first</caption>
      <thead>
        <tr>
          <th scope="col">
            <span class="visually-hidden">Select</span>
          </th>
          <th scope="col">Task</th>
          <th scope="col">Type</th>
          <th scope="col">Queue</th>
          <th scope="col">Why it failed</th>
          <th scope="col">Attempts</th>
          <th scope="col">Died</th>
          <th scope="col">Actions</th>
        </tr>
      </thead>
      <tbody>
        {tasks.length === 0 && (
          <tr>
            <td colspan={8} class="muted">
              No dead task. Good.
            </td>
          </tr>
        )}
        {tasks.map((t) => (
          <tr data-key={t.id}>
            <SelectTaskCell id={t.id} form="dlq-selection" />
            <td>
              <TaskLink id={t.id} />
            </td>
            <td>{t.type}</td>
            <td>{t.queue}</td>
            <td class="why">
              {t.lastError ? (
                <>
                  {cutText(t.lastError.message, 300)} <code class="muted">{t.lastError.code}</code>
                </>
              ) : (
                '—'
              )}
            </td>
            <td class="num">{t.attempts}</td>
            <td>
              <Time at={t.finishedAt ?? t.updatedAt} />
            </td>
            <td class="row-actions">
              <ActionButton
                action={`/ui/dlq/${t.id}/replay`}
                csrf={csrf}
                label="Replay"
                fields={{ back }}
                ariaLabel={`Replay task ${t.id}`}
              />
              <ActionButton
                action={`/ui/dlq/${t.id}/delete`}
                csrf={csrf}
                label="Delete"
                danger
                confirm="Delete this dead task for good? It cannot be replayed afterwards."
                fields={{ back }}
                ariaLabel={`Delete task ${t.id}`}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  </TableWrap>
);
