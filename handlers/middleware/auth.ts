import type { MiddlewareHandler } from 'hono';
import { lazyChild } from '../../lib/logger';
import { hasRole } from '../../lib/auth/roles';
import { ForbiddenError, UnauthorizedError } from '../../lib/errors';
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

/**
 * Authenticates every /v1 request. Missing, malformed, unknown and revoked tokens all get
 * the same 401.
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await c.get('services').auth.authenticate(presentedToken((n) => c.req.header(n)));
    if (!principal) throw new UnauthorizedError();
    c.set('principal', principal);
    c.set('logger', lazyChild(c.get('logger'), { userId: principal.id }));
    await next();
  };
}

/** Enforces the answering route's minimum role from ROUTE_ROLES (after authenticate). */
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
