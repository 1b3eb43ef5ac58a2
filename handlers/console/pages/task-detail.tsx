import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { hasRole } from '../../../lib/auth/roles';
import type { Principal } from '../../../lib/auth/roles';
import type { DeliveryView } from '../../../lib/callbacks/delivery-store';
import { NotFoundError } from '../../../lib/errors';
import { isUuid } from '../../../lib/ids';
import { TERMINAL_STATUSES } from '../../../lib/tasks/task';
import type { TaskEventView, TaskRecord } from '../../../lib/tasks/task';
import { routes } from '../../routes';
import { ownerScope } from '../../tasks';
import { ActionButton, Json, Status, TableWrap, Time } from '../components';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { renderFragment, renderPage } from '../layout';
import { csrfOf, needs } from '../session';
import { curlRead, curlResubmit } from './curl';
import { LIVE_REFRESH_MS, LIVE_STREAM } from './tasks';

interface Detail {
  task: TaskRecord;
  events: TaskEventView[];
  deliveries: DeliveryView[];
}

/** GET /ui/tasks/:id and its live parts: everything about one task the user may see (a dev: its own). */
export function taskDetailRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const role = pageRole('/ui/tasks');
  const load = async (p: Principal, id: string): Promise<Detail> => {
    const task = isUuid(id) ? await d.services.tasks.get(id, ownerScope(p)) : null;
    if (!task) throw new NotFoundError(`No task ${id.slice(0, 100)} (or not one you may see).`);
    const [events, deliveries] = await Promise.all([
      d.services.tasks.events(task.id),
      d.services.deliveries.forTask(task.id),
    ]);
    return { task, events, deliveries };
  };
  /** Nothing more will change on the page: the task has ended and its callbacks are settled. */
  const settled = (x: Detail) =>
    TERMINAL_STATUSES.has(x.task.status) && !x.deliveries.some((dl) => dl.status === 'pending');

  ui.get('/tasks/:id', needs(role), async (c) => {
    const p = c.get('principal');
    const x = await load(p, c.req.param('id'));
    const origin = new URL(c.req.url).origin;
    const live = settled(x)
      ? {}
      : {
          'data-refresh': `/ui/fragments/tasks/${x.task.id}`,
          'data-refresh-ms': String(LIVE_REFRESH_MS),
          'data-live-stream': `${LIVE_STREAM}?taskId=${x.task.id}`,
        };
    return renderPage(c, {
      title: `Task ${x.task.id.slice(-12)}`,
      principal: p,
      csrf: csrfOf(c),
      current: '/ui/tasks',
      children: (
        <div id="task-live" {...live}>
          <p class="breadcrumbs">
            <a href="/ui/tasks">Tasks</a> › <code>{x.task.id}</code>
          </p>
          <div id="task-summary">
            <Summary x={x} principal={p} csrf={csrfOf(c)} />
          </div>
          <section aria-labelledby="payload-h">
            <h2 id="payload-h">Payload</h2>
            <Json value={x.task.payload} label="Payload" />
          </section>
          <div id="task-outcome">
            <Outcome task={x.task} />
          </div>
          <section aria-labelledby="events-h">
            <h2 id="events-h">Events</h2>
            <ol class="timeline" id="task-events">
              <Events events={x.events} />
            </ol>
          </section>
          <section aria-labelledby="deliveries-h">
            <h2 id="deliveries-h">Callback deliveries</h2>
            <div id="task-deliveries">
              <Deliveries task={x.task} deliveries={x.deliveries} />
            </div>
          </section>
          <section aria-labelledby="curl-h">
            <h2 id="curl-h">Copy as curl</h2>
            <p class="hint">
              Set <code>PROCURATOR_TOKEN</code> to your API token first; the console never shows it.
            </p>
            <h3 id="curl-read-h">Read this task</h3>
            <pre id="curl-read" class="curl" tabindex={0} role="region" aria-labelledby="curl-read-h">
              <code>{curlRead(origin, x.task)}</code>
            </pre>
            <button type="button" data-copy="curl-read" hidden>
              Copy
            </button>
            <h3 id="curl-submit-h">Submit it again</h3>
            <pre id="curl-submit" class="curl" tabindex={0} role="region" aria-labelledby="curl-submit-h">
              <code>{curlResubmit(origin, x.task)}</code>
            </pre>
            <button type="button" data-copy="curl-submit" hidden>
              Copy
            </button>
          </section>
        </div>
      ),
    });
  });

  ui.get('/fragments/tasks/:id', needs(role), async (c) => {
    const p = c.get('principal');
    const x = await load(p, c.req.param('id'));
    return renderFragment(
      c,
      <div {...(settled(x) ? { 'data-final': 'true' } : {})}>
        <div data-fragment-for="task-summary">
          <Summary x={x} principal={p} csrf={csrfOf(c)} />
        </div>
        <div data-fragment-for="task-outcome">
          <Outcome task={x.task} />
        </div>
        <ol data-fragment-for="task-events">
          <Events events={x.events} />
        </ol>
        <div data-fragment-for="task-deliveries">
          <Deliveries task={x.task} deliveries={x.deliveries} />
        </div>
      </div>,
    );
  });
}

const Summary: FC<{ x: Detail; principal: Principal; csrf: string }> = ({ x, principal, csrf }) => {
  const t = x.task;
  const version = `${t.updatedAt.toISOString()}/${t.status}`;
  const opsOnDead = t.status === 'dead' && hasRole(principal.role, routes.replayDeadTask.access);
  return (
    <section aria-labelledby="summary-h" data-key="summary" data-version={version}>
      <h2 id="summary-h">
        Status <Status status={t.status} />
      </h2>
      <div class="actions">
        {!TERMINAL_STATUSES.has(t.status) && hasRole(principal.role, routes.cancelTask.access) && (
          <ActionButton
            action={`/ui/tasks/${t.id}/cancel`}
            csrf={csrf}
            label="Cancel task"
            danger
            confirm="Cancel this task?"
          />
        )}
        {opsOnDead && <ActionButton action={`/ui/dlq/${t.id}/replay`} csrf={csrf} label="Replay" />}
        {opsOnDead && hasRole(principal.role, routes.deleteDeadTask.access) && (
          <ActionButton
            action={`/ui/dlq/${t.id}/delete`}
            csrf={csrf}
            label="Delete for good"
            danger
            confirm="Delete this dead task for good? It cannot be replayed afterwards."
          />
        )}
      </div>
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <code>{t.id}</code>
        </dd>
        <dt>Type</dt>
        <dd>{t.type}</dd>
        <dt>Queue</dt>
        <dd>{t.queue}</dd>
        <dt>Priority</dt>
        <dd>{t.priority}</dd>
        <dt>Attempts</dt>
        <dd>
          {t.attempts} of {t.maxAttempts} (timeout {t.timeoutMs} ms)
        </dd>
        <dt>Submitted by</dt>
        <dd>
          <code>{t.createdBy}</code>
        </dd>
        <dt>Submitted</dt>
        <dd>
          <Time at={t.createdAt} />
        </dd>
        <dt>Runs not before</dt>
        <dd>
          <Time at={t.runAt} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time at={t.startedAt} />
        </dd>
        <dt>Ended</dt>
        <dd>
          <Time at={t.finishedAt} />
        </dd>
        <dt>Fair-sharing key</dt>
        <dd>{t.concurrencyKey ?? '—'}</dd>
        <dt>Depends on</dt>
        <dd>
          {t.dependsOn.length > 0 ? (
            <ul class="plain">
              {t.dependsOn.map((id) => (
                <li>
                  <a href={`/ui/tasks/${id}`}>
                    <code>{id}</code>
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            'nothing'
          )}
        </dd>
        <dt>Schedule</dt>
        <dd>
          {t.scheduleId ? (
            <a href={`/ui/schedules/${t.scheduleId}`}>
              <code>{t.scheduleId}</code>
            </a>
          ) : (
            'none (submitted directly)'
          )}
        </dd>
        <dt>Trace id</dt>
        <dd>
          <code>{t.traceId}</code>
        </dd>
      </dl>
    </section>
  );
};

const Outcome: FC<{ task: TaskRecord }> = ({ task }) => (
  <div data-key="outcome" data-version={`${task.updatedAt.toISOString()}/${task.status}`}>
    <section aria-labelledby="error-h">
      <h2 id="error-h">Last error</h2>
      {task.lastError ? (
        <>
          <p class="error-message">
            <strong>{task.lastError.message}</strong>
          </p>
          <p>
            Code <code>{task.lastError.code}</code> ·{' '}
            {task.lastError.retryable ? 'retryable' : 'not retryable'}
          </p>
          <details>
            <summary>All of it</summary>
            <Json value={task.lastError} label="Last error" />
          </details>
        </>
      ) : (
        <p class="muted">None.</p>
      )}
    </section>
    <section aria-labelledby="result-h">
      <h2 id="result-h">Result</h2>
      {task.result === null || task.result === undefined ? (
        <p class="muted">None yet.</p>
      ) : (
        <Json value={task.result} label="Result" />
      )}
    </section>
  </div>
);

const Events: FC<{ events: TaskEventView[] }> = ({ events }) => (
  <>
    {events.map((e) => (
      <li data-key={e.id} data-version="1" class={`event event-${e.kind}`}>
        <Time at={e.at} /> <strong class="kind">{e.kind}</strong>
        {e.attempt > 0 && <span> · attempt {e.attempt}</span>}
        {e.workerId && (
          <span>
            {' '}
            · worker <code>{e.workerId}</code>
          </span>
        )}
        {e.message && <p class="message">{e.message}</p>}
        {e.data !== null && e.data !== undefined && (
          <details>
            <summary>Data</summary>
            <Json value={e.data} label={`Data of event ${e.kind} at ${e.at}`} />
          </details>
        )}
      </li>
    ))}
  </>
);

const Deliveries: FC<{ task: TaskRecord; deliveries: DeliveryView[] }> = ({ task, deliveries }) => {
  const version = deliveries.map((dl) => `${dl.id}:${dl.updatedAt}`).join(',') || 'none';
  if (!task.callbackUrl) {
    return (
      <p class="muted" data-key="deliveries" data-version={version}>
        This task has no callback URL.
      </p>
    );
  }
  return (
    <div data-key="deliveries" data-version={version}>
      <p>
        Callback URL: <code>{task.callbackUrl}</code>
      </p>
      {deliveries.length === 0 ? (
        <p class="muted">None yet: a delivery is made when the task ends.</p>
      ) : (
        <TableWrap label="Callback deliveries">
          <table>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Tries</th>
                <th scope="col">Next try</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((dl) => (
                <tr>
                  <td>{dl.event}</td>
                  <td>
                    <Status status={dl.status} />
                  </td>
                  <td class="num">{dl.attempts}</td>
                  <td>{dl.status === 'pending' ? <Time at={dl.nextAt} /> : '—'}</td>
                  <td>{dl.lastError ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </div>
  );
};
