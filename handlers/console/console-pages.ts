import type { Role } from '../../lib/auth/roles';
import { routes } from '../routes';

/** A page of the console: its path, its name in the navigation, and who may open it. */
export interface ConsolePage {
  path: string;
  label: string;
  /** The least role: that of the API route showing the same thing (handlers/routes.ts). */
  role: Role;
}

/**
 * The console's pages, in navigation order. Each page's role is the role of the API route it
 * shows, so the console's roles are the API's by construction: a dev has no dead letters,
 * queues or users; ops no users. Links a user may not follow are not shown; the pages
 * themselves refuse such a user with 403.
 */
export const CONSOLE_PAGES: readonly ConsolePage[] = [
  { path: '/ui', label: 'Overview', role: routes.listQueues.access },
  { path: '/ui/tasks', label: 'Tasks', role: routes.listTasks.access },
  { path: '/ui/dlq', label: 'Dead letters', role: routes.listDeadTasks.access },
  { path: '/ui/schedules', label: 'Schedules', role: routes.listSchedules.access },
  { path: '/ui/queues', label: 'Queues', role: routes.listQueues.access },
  { path: '/ui/users', label: 'Users', role: routes.listUsers.access },
  { path: '/ui/logs', label: 'Logs', role: routes.listLogs.access },
];

export function pageRole(path: string): Role {
  const page = CONSOLE_PAGES.find((p) => p.path === path);
  if (!page) throw new Error(`no console page ${path}`);
  return page.role;
}
