import type { MiddlewareHandler } from 'hono';
import { newId } from '../../lib/ids';
import { lazyChild } from '../../lib/logger';
import type { Logger } from '../../lib/logger';
import type { AppEnv } from '../context';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is sane, else a new one),
 * echoes it on the answer whatever happens, and puts a request logger on the context.
 */
export function requestContext(d: { logger: Logger }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && SAFE_REQUEST_ID.test(given) ? given : newId();
    c.set('requestId', requestId);
    c.set('logger', lazyChild(d.logger, { requestId }));
    // Set before the handler runs: Hono adds it to the answer when the answer is made.
    // (Headers set afterwards turn @hono/node-server's light answer into a full Web Response.)
    // Error answers carry it through problemResponse.
    c.header('X-Request-Id', requestId);
    await next();
  };
}
