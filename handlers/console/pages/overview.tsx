import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { hasRole } from '../../../lib/auth/roles';
import type { HeldLease } from '../../../lib/leadership/lease';
import type { QueueWorker } from '../../../lib/queue/queue-admin';
import { Notice, TableWrap, Time } from '../components';
import type { ConsoleDeps, ConsoleEnv } from '../console-env';
import { pageRole } from '../console-pages';
import { renderPage } from '../layout';
import { csrfOf, needs } from '../session';
import { landingFor } from '../sign-in';
import { MinuteChart } from './charts';
import { QueueTable } from './queues';

/**
 * GET /ui: the overview for ops and admin — every queue's counts, the last hour's throughput
 * and failures, the workers alive. A dev lands on its task list instead.
 */
export function overviewRoutes(ui: Hono<ConsoleEnv>, d: ConsoleDeps): void {
  const role = pageRole('/ui');
  ui.get('/', async (c, next) => {
    const p = c.get('principal');
    if (!hasRole(p.role, role)) return c.redirect(landingFor(p.role), 303);
    return next();
  });
  ui.get('/', needs(role), async (c) => {
    const [status, minutes, leases] = await Promise.all([
      d.services.queues.status(),
      d.services.activity().catch(() => null),
      d.services.leases(),
    ]);
    return renderPage(c, {
      title: 'Overview',
      principal: c.get('principal'),
      csrf: csrfOf(c),
      current: '/ui',
      children: (
        <>
          <section aria-labelledby="activity-h">
            <h2 id="activity-h">The last hour</h2>
            {minutes ? (
              <div class="charts">
                <MinuteChart
                  id="succeeded"
                  title="Tasks succeeded"
                  minutes={minutes}
                  value={(m) => m.succeeded}
                  tone="ok"
                />
                <MinuteChart
                  id="failed"
                  title="Failed attempts"
                  minutes={minutes}
                  value={(m) => m.failed}
                  tone="bad"
                />
              </div>
            ) : (
              <Notice kind="error">
                The last hour's counts could not be read in time; reload to try again.
              </Notice>
            )}
          </section>
          <section aria-labelledby="queues-h">
            <h2 id="queues-h">Queues</h2>
            <QueueTable queues={status.queues} csrf={csrfOf(c)} />
            <p>
              <a href="/ui/queues">Pause, resume or delete queues</a> · <a href="/ui/dlq">Dead letters</a>
            </p>
          </section>
          <section aria-labelledby="workers-h">
            <h2 id="workers-h">Workers alive</h2>
            <Workers workers={status.workers} leases={leases} />
          </section>
        </>
      ),
    });
  });
}

/**
 * The workers the queues' consumer groups count as live (they read within the last minute, or
 * hold messages), with the queues they read and the leader jobs they hold.
 */
const Workers: FC<{ workers: QueueWorker[]; leases: HeldLease[] }> = ({ workers, leases }) => {
  const ids = [...new Set([...workers.map((w) => w.id), ...leases.map((l) => l.holder)])].sort();
  if (ids.length === 0) {
    return <p class="muted">No worker has read a queue in the last minute.</p>;
  }
  return (
    <>
      <p>
        <strong>{ids.length}</strong> {ids.length === 1 ? 'worker' : 'workers'} alive.
      </p>
      <TableWrap label="Workers alive">
        <table>
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">Reads</th>
              <th scope="col">Leads</th>
            </tr>
          </thead>
          <tbody>
            {ids.map((id) => {
              const held = leases.filter((l) => l.holder === id);
              return (
                <tr>
                  <th scope="row">
                    <code>{id}</code>
                  </th>
                  <td>{workers.find((w) => w.id === id)?.queues.join(', ') || '—'}</td>
                  <td>
                    {held.length === 0
                      ? '—'
                      : held.map((l) => (
                          <span class="lease">
                            {l.name} (until <Time at={l.expiresAt} />){' '}
                          </span>
                        ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableWrap>
    </>
  );
};
