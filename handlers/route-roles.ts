import type { Role } from '../lib/auth/roles';
import { routes } from './routes';

export function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

/**
 * The least role of every /v1 route, derived from the route table (handlers/routes.ts) and
 * checked by one middleware. createApp refuses to start if a /v1 route is missing here, and
 * the middleware refuses any handler that is missing anyway, so a new route cannot forget its
 * role. HEAD has no rows: Hono answers it with the GET handler, checked against its GET row.
 */
export const ROUTE_ROLES: Readonly<Record<string, Role>> = Object.fromEntries(
  Object.values(routes).flatMap((r) =>
    r.access === 'public' ? [] : [[routeKey(r.route.method, r.route.getRoutingPath()), r.access] as const],
  ),
);
