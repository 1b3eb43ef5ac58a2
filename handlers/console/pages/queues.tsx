import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { ValidationError } from '../../../lib/errors';
import type { QueueOverview } from '../../../lib/queue/queue-admin';
import { QUEUE_NAME_RE } from '../../../lib/queue/queue-backend';
import { routes } from '../../routes';
import { ActionButton, TableWrap, Time } from '../components';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { renderPage } from '../layout';
import { withNotice } from '../notices';
import { actorOf, csrfOf, needs } from '../session';

function queueName(name: string): string {
  if (!QUEUE_NAME_RE.test(name)) {
    throw new ValidationError('The queue name is invalid.', [
      { path: 'name', message: 'must be 1-64 characters of A-Z a-z 0-9 _ . -' },
    ]);
  }
  return name;
}

/** Nothing waits, runs or is delayed: the queue may be deleted (the database has the last word). */
export function looksEmpty(q: QueueOverview): boolean {
  return q.length === 0 && q.pending === 0 && q.delayed === 0;
}

/** /ui/queues (ops): every queue's state; pause, resume, delete an empty one — QueueAdmin, as /v1/queues. */
export function queueRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const { queues } = d.services;

  ui.get('/queues', needs(pageRole('/ui/queues')), async (c) => {
    const list = await queues.overview();
    return renderPage(c, {
      title: 'Queues',
      principal: c.get('principal'),
      csrf: csrfOf(c),
      current: '/ui/queues',
      children: (
        <>
          <p>
            A paused queue starts nothing until resumed, and loses nothing. A queue can be deleted once it
            holds no live task.
          </p>
          <QueueTable queues={list} csrf={csrfOf(c)} actions />
        </>
      ),
    });
  });

  ui.post('/queues/:name/pause', needs(routes.pauseQueue.access), async (c) => {
    const name = queueName(c.req.param('name'));
    await queues.pause(name, actorOf(c));
    return c.redirect(withNotice('/ui/queues', 'paused', 0, name), 303);
  });

  ui.post('/queues/:name/resume', needs(routes.resumeQueue.access), async (c) => {
    const name = queueName(c.req.param('name'));
    await queues.resume(name, actorOf(c));
    return c.redirect(withNotice('/ui/queues', 'resumed', 0, name), 303);
  });

  ui.post('/queues/:name/delete', needs(routes.deleteQueue.access), async (c) => {
    const name = queueName(c.req.param('name'));
    await queues.remove(name, actorOf(c));
    return c.redirect(withNotice('/ui/queues', 'queue-deleted', 0, name), 303);
  });
}

/** Every queue with its counts; with `actions`, the buttons an operator uses on it. */
export const QueueTable: FC<{ queues: QueueOverview[]; csrf: string; actions?: boolean }> = (p) => (
  <TableWrap label="Queues">
    <table class="queues">
      <caption>Queues</caption>
      <thead>
        <tr>
          <th scope="col">Queue</th>
          <th scope="col">Waiting</th>
          <th scope="col">Running</th>
          <th scope="col">Delayed</th>
          <th scope="col">Dead</th>
          <th scope="col">Consumers</th>
          <th scope="col">Oldest waiting</th>
          <th scope="col">State</th>
          {p.actions && <th scope="col">Actions</th>}
        </tr>
      </thead>
      <tbody>
        {p.queues.length === 0 && (
          <tr>
            <td colspan={p.actions ? 9 : 8} class="muted">
              No queue yet: the first task submitted to a queue creates it.
            </td>
          </tr>
        )}
        {p.queues.map((q) => (
          <tr data-key={q.name}>
            <th scope="row">{q.name}</th>
            <td class="num">{q.length}</td>
            <td class="num">{q.pending}</td>
            <td class="num">{q.delayed}</td>
            <td class="num">
              {q.dead > 0 ? <a href={`/ui/dlq?queue=${encodeURIComponent(q.name)}`}>{q.dead}</a> : 0}
            </td>
            <td class="num">{q.consumers}</td>
            <td class="num">{formatAge(q.oldestAgeSeconds)}</td>
            <td>
              {q.paused ? (
                <span class="status status-paused">
                  paused
                  {q.pausedAt && (
                    <>
                      {' '}
                      since <Time at={q.pausedAt} />
                    </>
                  )}
                </span>
              ) : (
                <span class="status status-active">active</span>
              )}
            </td>
            {p.actions && (
              <td class="row-actions">
                {q.paused ? (
                  <ActionButton
                    action={`/ui/queues/${q.name}/resume`}
                    csrf={p.csrf}
                    label="Resume"
                    ariaLabel={`Resume queue ${q.name}`}
                  />
                ) : (
                  <ActionButton
                    action={`/ui/queues/${q.name}/pause`}
                    csrf={p.csrf}
                    label="Pause"
                    ariaLabel={`Pause queue ${q.name}`}
                  />
                )}
                {looksEmpty(q) && (
                  <ActionButton
                    action={`/ui/queues/${q.name}/delete`}
                    csrf={p.csrf}
                    label="Delete"
                    danger
                    confirm={`Delete queue ${q.name}? Its name and keys go; its ended tasks stay.`}
                    ariaLabel={`Delete queue ${q.name}`}
                  />
                )}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  </TableWrap>
);

/** Seconds as `0 s`, `42 s`, `3 min`, `2 h 5 min`. */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  const h = Math.floor(seconds / 3600);
  return `${h} h ${Math.floor((seconds % 3600) / 60)} min`;
}
