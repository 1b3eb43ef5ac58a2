import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import type { Principal } from '../../../lib/auth/roles';
import { TASK_STATUSES } from '../../../lib/tasks/task';
import type { TaskRecord } from '../../../lib/tasks/task';
import { encodeCursor } from '../../cursor';
import { ownerScope } from '../../tasks';
import { Csrf, Notice, TableWrap } from '../components';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import {
  TaskFilterSchema,
  cursorOf,
  filterParams,
  localInputValue,
  parseFilter,
  queryString,
} from '../filters';
import type { TaskFilter } from '../filters';
import { queryRecord } from '../form';
import { renderFragment, renderPage } from '../layout';
import { needs } from '../session';
import { TaskHead, TaskRows } from './task-rows';

export const TASK_PAGE_SIZE = 50;
/** How often the first page of the list asks for what changed (while the tab is visible). */
export const LIVE_REFRESH_MS = 2000;
const FILTER_FIELDS = ['status', 'type', 'queue', 'since', 'until'] as const;
/** The console's live tail (pages/live.ts): its events tell a page when to fetch its rows again. */
export const LIVE_STREAM = '/ui/api/stream';

/** One page of the tasks the user may see (a dev: its own), newest first. */
async function taskPage(d: ConsoleDeps, p: Principal, f: TaskFilter, before: string | undefined) {
  return d.services.tasks.list({ ...f, createdBy: ownerScope(p), before, limit: TASK_PAGE_SIZE });
}

/** GET /ui/tasks (filters, cursor paging, selection for bulk cancel) and its live rows. */
export function taskListRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const role = pageRole('/ui/tasks');

  ui.get('/tasks', needs(role), async (c) => {
    const p = c.get('principal');
    const parsed = parseFilter(TaskFilterSchema, queryRecord(c, FILTER_FIELDS));
    const filter: TaskFilter = parsed.ok ? parsed.value : {};
    const cursor = c.req.query('cursor');
    const page = parsed.ok ? await taskPage(d, p, filter, cursorOf(cursor)) : { items: [], more: false };
    const params = filterParams(filter);
    const last = page.items[page.items.length - 1];
    return renderPage(
      c,
      {
        title: 'Tasks',
        principal: p,
        csrf: c.get('session').csrfToken,
        current: '/ui/tasks',
        children: (
          <>
            {!parsed.ok && (
              <Notice kind="error">{parsed.problems.map((x) => `${x.path}: ${x.message}`).join('; ')}</Notice>
            )}
            <FilterForm filter={filter} types={d.catalog.list().map((t) => t.type)} />
            <TaskTable
              tasks={page.items}
              live={cursor ? null : `/ui/fragments/tasks${queryString(params)}`}
            />
            <nav class="pager" aria-label="Pages">
              {cursor && <a href={`/ui/tasks${queryString(params)}`}>Newest</a>}
              {page.more && last && (
                <a href={`/ui/tasks${queryString({ ...params, cursor: encodeCursor(last.id) })}`}>Older</a>
              )}
            </nav>
            <BulkForms csrf={c.get('session').csrfToken} params={params} />
          </>
        ),
      },
      parsed.ok ? 200 : 422,
    );
  });

  // The live list: the first page's rows again, for the script to merge (README, "Web console").
  ui.get('/fragments/tasks', needs(role), async (c) => {
    const parsed = parseFilter(TaskFilterSchema, queryRecord(c, FILTER_FIELDS));
    const page = parsed.ok ? await taskPage(d, c.get('principal'), parsed.value, undefined) : { items: [] };
    return renderFragment(
      c,
      <table>
        <tbody data-fragment-for="task-rows">
          <TaskRows tasks={page.items} selectable columns={8} />
        </tbody>
      </table>,
    );
  });
}

const TaskTable: FC<{ tasks: TaskRecord[]; live: string | null }> = ({ tasks, live }) => (
  <TableWrap label="Tasks">
    <table class="tasks">
      <caption>Tasks, newest first{live ? ' (updates as they change)' : ''}</caption>
      <TaskHead selectable />
      <tbody
        id="task-rows"
        {...(live
          ? {
              'data-refresh': live,
              'data-refresh-ms': String(LIVE_REFRESH_MS),
              'data-live-stream': LIVE_STREAM,
            }
          : {})}
      >
        <TaskRows tasks={tasks} selectable columns={8} />
      </tbody>
    </table>
  </TableWrap>
);

const FilterForm: FC<{ filter: TaskFilter; types: string[] }> = ({ filter, types }) => (
  <form method="get" action="/ui/tasks" class="filters">
    <fieldset>
      <legend>Filter</legend>
      <div class="field">
        <label for="f-status">Status</label>
        <select id="f-status" name="status">
          <option value="">any</option>
          {TASK_STATUSES.map((s) => (
            <option value={s} selected={filter.status === s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="f-type">Type</label>
        <select id="f-type" name="type">
          <option value="">any</option>
          {types.map((t) => (
            <option value={t} selected={filter.type === t}>
              {t}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="f-queue">Queue</label>
        <input id="f-queue" name="queue" value={filter.queue ?? ''} maxlength={64} />
      </div>
      <div class="field">
        <label for="f-since">Submitted from (UTC)</label>
        <input id="f-since" name="since" type="datetime-local" value={localInputValue(filter.since)} />
      </div>
      <div class="field">
        <label for="f-until">Submitted before (UTC)</label>
        <input id="f-until" name="until" type="datetime-local" value={localInputValue(filter.until)} />
      </div>
      <div class="actions">
        <button type="submit">Apply</button> <a href="/ui/tasks">Clear</a>
      </div>
    </fieldset>
  </form>
);

/** Cancel what is selected, or everything the filter matches: each asks for confirmation with the count. */
const BulkForms: FC<{ csrf: string; params: Record<string, string> }> = ({ csrf, params }) => (
  <section aria-labelledby="bulk-heading" class="bulk-actions">
    <h2 id="bulk-heading">Cancel in bulk</h2>
    <form id="task-selection" method="post" action="/ui/tasks/cancel" class="inline">
      <Csrf token={csrf} />
      <input type="hidden" name="scope" value="selected" />
      <button type="submit">Cancel selected…</button>
    </form>{' '}
    <form method="post" action="/ui/tasks/cancel" class="inline">
      <Csrf token={csrf} />
      <input type="hidden" name="scope" value="filter" />
      {Object.entries(params).map(([k, v]) => (
        <input type="hidden" name={k} value={v} />
      ))}
      <button type="submit">Cancel all matching the filter…</button>
    </form>
    <p class="hint">Both show how many tasks would be cancelled and ask you to confirm.</p>
  </section>
);
