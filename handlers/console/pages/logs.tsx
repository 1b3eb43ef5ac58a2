import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { z } from 'zod';
import type { Principal } from '../../../lib/auth/roles';
import { NotFoundError } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import type { LogItem } from '../../../lib/logs/log-store';
import { encodeCursor } from '../../cursor';
import { ownerScope } from '../../tasks';
import { Notice, TableWrap, TaskLink, Time } from '../components';
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
import { queryRecord } from '../form';
import { renderFragment, renderPage } from '../layout';
import { csrfOf, needs } from '../session';
import { LIVE_REFRESH_MS, LIVE_STREAM } from './tasks';

const noNul = (s: string) => !s.includes('\u0000');
const text = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine(noNul, { message: 'must not contain NUL' })
    .optional()
    .transform((v) => (v ? v : undefined));

/** /v1/logs's filters, as the page's form carries them (times typed in UTC). */
const LogFilterSchema = z
  .object({
    taskId: text(100),
    kind: text(100),
    q: text(200),
    since: TaskFilterSchema.shape.since,
    until: TaskFilterSchema.shape.until,
  })
  .refine((f) => !f.since || !f.until || f.since <= f.until, {
    path: ['until'],
    message: 'must not be before since',
  });
type LogFilter = Partial<z.output<typeof LogFilterSchema>>;
const FIELDS = ['taskId', 'kind', 'q', 'since', 'until'] as const;
const PAGE_SIZE = 50;
/** Entries the live tail shows at most; older ones leave the table. */
const TAIL_ROWS = 200;

/**
 * /ui/logs: the /v1/logs search (task events and audit entries, newest first; a dev: the events
 * of its own tasks, no audit entries) and a live tail of what comes after.
 */
export function logRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const role = pageRole('/ui/logs');

  /** The store's filter for a user: scoped as /v1/logs scopes it (another's task is not found). */
  const scoped = async (p: Principal, f: LogFilter) => {
    const ownerId = ownerScope(p);
    if (f.taskId !== undefined) {
      const task = isUuid(f.taskId) ? await d.services.tasks.get(f.taskId, ownerId) : null;
      if (!task) throw new NotFoundError(`No task ${JSON.stringify(f.taskId)}.`);
    }
    return { ...f, ownerId };
  };

  ui.get('/logs', needs(role), async (c) => {
    const p = c.get('principal');
    const parsed = parseFilter(LogFilterSchema, queryRecord(c, FIELDS));
    const f: LogFilter = parsed.ok ? parsed.value : {};
    const cursor = c.req.query('cursor');
    const page = parsed.ok
      ? await d.services.logs.list({ ...(await scoped(p, f)), before: cursorOf(cursor), limit: PAGE_SIZE })
      : { items: [], more: false };
    const params = filterParams(f);
    const last = page.items[page.items.length - 1];
    const newest = cursor ? undefined : page.items[0]?.id;
    return renderPage(
      c,
      {
        title: 'Logs',
        principal: p,
        csrf: csrfOf(c),
        current: '/ui/logs',
        children: (
          <>
            {!parsed.ok && (
              <Notice kind="error">{parsed.problems.map((x) => `${x.path}: ${x.message}`).join('; ')}</Notice>
            )}
            <LogForm f={f} />
            <section
              aria-labelledby="tail-h"
              class="tail"
              data-tail={`/ui/fragments/logs${queryString(params)}`}
              data-stream={`${LIVE_STREAM}${queryString(streamParams(f))}`}
              data-after={newest ?? ''}
              data-refresh-ms={String(LIVE_REFRESH_MS)}
            >
              <h2 id="tail-h">Live tail</h2>
              <p class="hint" data-tail-state>
                New entries matching the filter appear here as they are written (needs the page’s script).
              </p>
              <TableWrap label="Live tail">
                <table>
                  <LogHead />
                  <tbody id="tail-rows" data-max-rows={String(TAIL_ROWS)} />
                </table>
              </TableWrap>
            </section>
            <section aria-labelledby="results-h">
              <h2 id="results-h">Search results</h2>
              <TableWrap label="Log entries">
                <table>
                  <caption>Entries, newest first</caption>
                  <LogHead />
                  <tbody>
                    {page.items.length === 0 ? (
                      <tr>
                        <td colspan={6} class="muted">
                          Nothing matches.
                        </td>
                      </tr>
                    ) : (
                      <LogRows items={page.items} />
                    )}
                  </tbody>
                </table>
              </TableWrap>
              <nav class="pager" aria-label="Pages">
                {cursor && <a href={`/ui/logs${queryString(params)}`}>Newest</a>}
                {page.more && last && (
                  <a href={`/ui/logs${queryString({ ...params, cursor: encodeCursor(last.id) })}`}>Older</a>
                )}
              </nav>
            </section>
          </>
        ),
      },
      parsed.ok ? 200 : 422,
    );
  });

  // The live tail's next entries: what came after the newest the page has, oldest first.
  ui.get('/fragments/logs', needs(role), async (c) => {
    const parsed = parseFilter(LogFilterSchema, queryRecord(c, FIELDS));
    if (!parsed.ok) return renderFragment(c, <></>);
    const after = c.req.query('after');
    const page = await d.services.logs.list({
      ...(await scoped(c.get('principal'), parsed.value)),
      ...(after && isUuid(after) ? { after } : {}),
      limit: after ? TAIL_ROWS : 20,
    });
    return renderFragment(
      c,
      <table>
        <tbody data-fragment-for="tail-rows" data-gap={page.more && after ? 'true' : undefined}>
          <LogRows items={page.items} />
        </tbody>
      </table>,
    );
  });
}

/** The live stream takes the filters of /v1/logs/stream: no time range (it is what comes next). */
function streamParams(f: LogFilter): Record<string, string> {
  return filterParams({ taskId: f.taskId, kind: f.kind, q: f.q });
}

const LogHead: FC = () => (
  <thead>
    <tr>
      <th scope="col">At</th>
      <th scope="col">Source</th>
      <th scope="col">Kind</th>
      <th scope="col">Task or target</th>
      <th scope="col">By</th>
      <th scope="col">Message</th>
    </tr>
  </thead>
);

export const LogRows: FC<{ items: LogItem[] }> = ({ items }) => (
  <>
    {items.map((i) => (
      <tr data-key={i.id} data-version="1">
        <td>
          <Time at={i.at} />
        </td>
        <td>{i.source === 'audit' ? 'audit' : 'task event'}</td>
        <td>
          <code>{i.source === 'audit' ? i.action : i.kind}</code>
        </td>
        <td>{i.source === 'task_event' ? <TaskLink id={i.taskId} /> : (i.target ?? '—')}</td>
        <td>
          {i.source === 'audit' ? (i.actorName ?? i.actorId) : i.workerId ? <code>{i.workerId}</code> : '—'}
        </td>
        <td>{i.source === 'task_event' ? (i.message ?? '') : ''}</td>
      </tr>
    ))}
  </>
);

const LogForm: FC<{ f: LogFilter }> = ({ f }) => (
  <form method="get" action="/ui/logs" class="filters">
    <fieldset>
      <legend>Search</legend>
      <div class="field">
        <label for="l-q">Keyword</label>
        <input id="l-q" name="q" value={f.q ?? ''} maxlength={200} />
      </div>
      <div class="field">
        <label for="l-kind">Kind or action</label>
        <input
          id="l-kind"
          name="kind"
          value={f.kind ?? ''}
          maxlength={100}
          placeholder="failed, dlq.replay…"
        />
      </div>
      <div class="field">
        <label for="l-task">Task id</label>
        <input id="l-task" name="taskId" value={f.taskId ?? ''} maxlength={100} />
      </div>
      <div class="field">
        <label for="l-since">From (UTC)</label>
        <input id="l-since" name="since" type="datetime-local" value={localInputValue(f.since)} />
      </div>
      <div class="field">
        <label for="l-until">Before (UTC)</label>
        <input id="l-until" name="until" type="datetime-local" value={localInputValue(f.until)} />
      </div>
      <div class="actions">
        <button type="submit">Search</button> <a href="/ui/logs">Clear</a>
      </div>
    </fieldset>
  </form>
);
