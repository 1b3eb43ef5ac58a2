import type { Role } from '../lib/auth/roles';

/**
 * The minimum role of every /v1 route: one table, checked by one middleware. createApp
 * refuses to start if a /v1 route is missing here, and the middleware refuses any handler
 * that is missing anyway, so a new route cannot forget its role. HEAD has no rows: Hono
 * answers it with the GET handler, which is checked against its GET row.
 */
export const ROUTE_ROLES: Readonly<Record<string, Role>> = {
  'POST /v1/tasks': 'dev',
  'POST /v1/tasks/batch': 'dev',
  'GET /v1/tasks': 'dev',
  'GET /v1/tasks/:id': 'dev',
  'POST /v1/tasks/:id/cancel': 'dev',
  'GET /v1/tasks/:id/events': 'dev',
  'GET /v1/system/info': 'dev',
  'GET /v1/system/queues': 'ops',
  'GET /v1/me': 'dev',
  'GET /v1/logs': 'dev',
  'POST /v1/users': 'admin',
  'GET /v1/users': 'admin',
  'POST /v1/users/:id/token': 'admin',
  'DELETE /v1/users/:id': 'admin',
  'GET /v1/dlq': 'ops',
  'POST /v1/dlq/replay': 'ops',
  'POST /v1/dlq/:id/replay': 'ops',
  'DELETE /v1/dlq/:id': 'ops',
  'POST /v1/queues/:name/pause': 'ops',
  'POST /v1/queues/:name/resume': 'ops',
};

export function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}
