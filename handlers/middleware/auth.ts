import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { RouterRoute } from 'hono/types';
import { hasRole } from '../../lib/auth/roles';
import { ForbiddenError } from '../../lib/errors';
import type { Role } from '../../lib/auth/roles';
import type { AppEnv } from '../context';
import { routeKey } from '../route-roles';

/** The token from `X-API-Token`, or from `Authorization: Bearer`. */
export function presentedToken(header: (name: string) => string | undefined): string | null {
  const direct = header('x-api-token');
  if (direct) return direct.trim();
  const authorization = header('authorization');
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  return m ? m[1]! : null;
}

/**
 * Enforces the minimum role from the route table of every handler that may answer (after
 * admission). Deny by default: a handler with no entry is refused to everyone, so a route
 * that escaped createApp's start-up check (an `all()` route, one added later) stays shut.
 * A request no handler matches goes on to the 404.
 */
export function requireRouteRole(d: { roles: Readonly<Record<string, Role>> }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    for (const route of handlersAhead(c)) {
      // Keyed by the method the handler was registered for, not c.req.method: Hono answers
      // HEAD by running the GET handler (c.req.method stays HEAD), so HEAD must meet GET's role.
      const key = routeKey(route.method, route.path);
      const required = d.roles[key];
      if (!required) {
        c.get('logger').error({ route: key }, 'route has no entry in ROUTE_ROLES; refused');
        throw new ForbiddenError('This route has no role assigned, so it is refused to every caller.');
      }
      if (!hasRole(principal.role, required)) {
        throw new ForbiddenError(`This route needs the ${required} role; your token has ${principal.role}.`);
      }
    }
    await next();
  };
}

/**
 * The matched routes after this middleware that may answer the request. Only `use()`
 * middleware (method ALL on a wildcard path) is left out; anything else may respond, and
 * each of them is checked (if an earlier handler calls next(), a later one answers).
 */
function handlersAhead(c: Context<AppEnv>): RouterRoute[] {
  return matchedRoutes(c)
    .slice(c.req.routeIndex + 1)
    .filter((r) => !(r.method === 'ALL' && r.path.endsWith('*')));
}
