import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { NotFoundError, PayloadTooLargeError } from '../../lib/errors';
import type { Api } from '../api';
import { consoleError } from './console-errors';
import type { ConsoleDeps, ConsoleEnv } from './console-env';
import { dlqRoutes } from './pages/dlq';
import { liveRoutes } from './pages/live';
import { logRoutes } from './pages/logs';
import { overviewRoutes } from './pages/overview';
import { queueRoutes } from './pages/queues';
import { scheduleRoutes } from './pages/schedules';
import { taskCancelRoutes } from './pages/task-cancel';
import { taskDetailRoutes } from './pages/task-detail';
import { taskListRoutes } from './pages/tasks';
import { userRoutes } from './pages/users';
import { consoleHeaders } from './security-headers';
import { requireCsrf, requireSession } from './session';
import { signInRoutes, signOutRoute } from './sign-in';

export type { ConsoleAssets, ConsoleDeps } from './console-env';

const ASSET_TYPES = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
} as const;

/**
 * The web console at /ui (README, "Web console"): server-rendered pages over the API's own
 * services, behind a server-side session, a CSRF token on every change and a strict CSP. Not
 * part of the route table (they are pages, not API operations); each page and action checks
 * the least role of the API route that does the same.
 */
export function consoleRoutes(app: Api, d: ConsoleDeps): void {
  const ui = new Hono<ConsoleEnv>();
  ui.use('*', consoleHeaders());
  ui.use(
    '*',
    bodyLimit({
      maxSize: d.settings.MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(d.settings.MAX_BODY_BYTES);
      },
    }),
  );

  // Open to everyone: the static files and the sign-in form.
  ui.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    if (!(file in ASSET_TYPES)) throw new NotFoundError(`No asset ${JSON.stringify(file.slice(0, 100))}.`);
    const name = file as keyof typeof ASSET_TYPES;
    const bytes = await d.assets(name);
    if (!bytes) throw new NotFoundError(`The console's ${name} is not built (npm run build).`);
    // Revalidated on each page load (a new build must reach browsers at once); 304 when unchanged.
    return c.body(new Uint8Array(bytes), 200, {
      'Content-Type': ASSET_TYPES[name],
      'Cache-Control': 'no-cache',
    });
  });
  signInRoutes(ui, d);

  // Everything else: a signed-in session, and the CSRF token on every change.
  ui.use('*', requireSession(d), requireCsrf(d));
  signOutRoute(ui, d);
  overviewRoutes(ui, d);
  taskListRoutes(ui, d);
  taskCancelRoutes(ui, d);
  taskDetailRoutes(ui, d);
  dlqRoutes(ui, d);
  scheduleRoutes(ui, d);
  queueRoutes(ui, d);
  userRoutes(ui, d);
  logRoutes(ui, d);
  liveRoutes(ui, d);
  ui.all('*', () => {
    throw new NotFoundError('No such console page.');
  });
  ui.onError(consoleError);
  app.route('/ui', ui);
}
