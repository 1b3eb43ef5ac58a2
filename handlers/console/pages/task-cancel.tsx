import type { Hono } from 'hono';
import { BadRequestError, NotFoundError, ValidationError } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import { LIVE_STATUSES } from '../../../lib/tasks/task';
import type { TaskRecord, TaskStatus } from '../../../lib/tasks/task';
import { routes } from '../../routes';
import { ownerScope } from '../../tasks';
import { BULK_CHUNK, BULK_LIMIT, BulkConfirm, runBulk } from '../bulk';
import type { Chunk } from '../bulk';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { TaskFilterSchema, filterParams, parseFilter, queryString, selectedIds } from '../filters';
import type { TaskFilter } from '../filters';
import { formFields } from '../form';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import { actorOf, csrfOf, needs } from '../session';

const FILTER_FIELDS = ['status', 'type', 'queue', 'since', 'until'] as const;

/** Of a filter's statuses, those a cancel can still change. */
function cancellable(status: TaskStatus | undefined): readonly TaskStatus[] {
  if (status === undefined) return LIVE_STATUSES;
  return LIVE_STATUSES.includes(status) ? [status] : [];
}

/**
 * POST /ui/tasks/:id/cancel and POST /ui/tasks/cancel (bulk: the selection, or everything the
 * filter matches), through TaskCommands as POST /v1/tasks/:id/cancel does, with its role and
 * its scope (a dev: its own tasks).
 */
export function taskCancelRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { tasks, commands } = d.services;
  const role = routes.cancelTask.access;

  ui.post('/tasks/cancel', needs(role), async (c) => {
    const p = c.get('principal');
    const form = await formFields(c);
    const scope = form.one('scope');
    const owner = ownerScope(p);
    const actor = actorOf(c);
    let count: { n: number; capped: boolean };
    let fields: [string, string][];
    let chunk: Chunk;
    let back: string;
    if (scope === 'selected') {
      const ids = selectedIds(form.all('id'), BULK_LIMIT);
      if (ids.length === 0)
        throw new BadRequestError('No task was selected: tick the tasks to cancel first.');
      count = { n: ids.length, capped: false };
      fields = [['scope', 'selected'], ...ids.map((id): [string, string] => ['id', id])];
      back = '/ui/tasks';
      chunk = async (cursor) => {
        const at = cursor === null ? 0 : Number.parseInt(cursor, 10);
        const slice = ids.slice(at, at + BULK_CHUNK);
        const found = (await Promise.all(slice.map((id) => tasks.get(id, owner)))).filter(
          (t): t is TaskRecord => t !== null,
        );
        const counts = await commands.cancelMany(actor, found, { via: 'console', scope: 'selected' });
        const next = at + slice.length;
        return { processed: slice.length, counts, cursor: next < ids.length ? String(next) : null };
      };
    } else if (scope === 'filter') {
      const parsed = parseFilter(TaskFilterSchema, form.record(FILTER_FIELDS));
      if (!parsed.ok) throw new ValidationError('The filter is invalid.', parsed.problems);
      const filter: TaskFilter = parsed.value;
      const statuses = cancellable(filter.status);
      const { status: _status, ...rest } = filter;
      count = await tasks.count({ ...rest, statuses, createdBy: owner });
      const params = filterParams(filter);
      fields = [['scope', 'filter'], ...Object.entries(params)];
      back = `/ui/tasks${queryString(params)}`;
      chunk = async (cursor) => {
        if (cursor !== null && !isUuid(cursor)) throw new BadRequestError('The bulk cursor is invalid.');
        const page = await tasks.list({
          ...rest,
          statuses,
          createdBy: owner,
          before: cursor ?? undefined,
          limit: BULK_CHUNK,
        });
        const counts = await commands.cancelMany(actor, page.items, { via: 'console', filter: params });
        const last = page.items[page.items.length - 1];
        return { processed: page.items.length, counts, cursor: page.more && last ? last.id : null };
      };
    } else {
      throw new BadRequestError('Say what to cancel: scope is "selected" or "filter".');
    }
    if (form.one('confirm') === undefined) {
      return renderPage(c, {
        title: 'Cancel tasks',
        principal: p,
        csrf: csrfOf(c),
        current: '/ui/tasks',
        children: (
          <BulkConfirm
            action="/ui/tasks/cancel"
            csrf={csrfOf(c)}
            count={count.n}
            capped={count.capped}
            verb="Cancel"
            what={count.n === 1 ? 'task' : 'tasks'}
            fields={fields}
            back={back}
            danger
          />
        ),
      });
    }
    return runBulk(c, form, chunk, (totals) =>
      withNotice(back, 'cancelled', (totals.cancelled ?? 0) + (totals.stopping ?? 0)),
    );
  });

  ui.post('/tasks/:id/cancel', needs(role), async (c) => {
    const id = c.req.param('id');
    const task = isUuid(id) ? await tasks.get(id, ownerScope(c.get('principal'))) : null;
    if (!task) throw new NotFoundError(`No task ${id.slice(0, 100)}.`);
    const outcome = await commands.cancel(actorOf(c), task);
    return c.redirect(withNotice(`/ui/tasks/${task.id}`, outcome.kind, 1), 303);
  });
}
