import type { MiddlewareHandler } from 'hono';
import { hasRole } from '../../lib/auth/roles';
import { ForbiddenError } from '../../lib/errors';
import type { AppEnv } from '../context';
import { ROUTE_ROLES, routeKey } from '../route-roles';
import { answeringRoute } from './http-metrics';

/** The token from `X-API-Token`, or from `Authorization: Bearer`. */
export function presentedToken(header: (name: string) => string | undefined): string | null {
  const direct = header('x-api-token');
  if (direct) return direct.trim();
  const authorization = header('authorization');
  const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  return m ? m[1]! : null;
}

/** Enforces the answering route's minimum role from ROUTE_ROLES (after admission). */
export function requireRouteRole(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    const route = answeringRoute(c);
    const required = route ? ROUTE_ROLES[routeKey(c.req.method, route)] : undefined;
    if (required && !hasRole(principal.role, required)) {
      throw new ForbiddenError(`This route needs the ${required} role; your token has ${principal.role}.`);
    }
    await next();
  };
}
