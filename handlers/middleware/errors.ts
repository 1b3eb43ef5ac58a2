import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { HTTPException } from 'hono/http-exception';
import { isTransientDbError } from '../../lib/db/transient-errors';
import {
  BadRequestError,
  NotFoundError,
  ProblemError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
} from '../../lib/errors';
import type { AppEnv } from '../context';

/**
 * Writes a ProblemError as application/problem+json with its headers, and with the headers
 * middleware set before the error (X-Request-Id, RateLimit-*).
 */
export function problemResponse(c: Context<AppEnv>, problem: ProblemError): Response {
  const requestId = c.get('requestId');
  const headers: Record<string, string> = {
    'Content-Type': 'application/problem+json',
    ...(problem.extra.headers ?? {}),
  };
  if (requestId) headers['X-Request-Id'] = requestId;
  const body = { ...problem.toJSON(), ...(requestId ? { requestId } : {}) };
  return c.body(JSON.stringify(body), problem.status as ContentfulStatusCode, headers);
}

/** Redis refusing connections, or a command timing out, means the queue is down. */
function isQueueUnavailable(err: unknown): boolean {
  const m = err instanceof Error ? err.message : '';
  return /ECONNREFUSED|Connection is closed|Stream isn't writeable|max retries per request|ETIMEDOUT/i.test(
    m,
  );
}

/**
 * The one place errors become answers: problem errors as themselves, an unreachable
 * dependency as 503 with Retry-After, anything else as a 500 that reveals nothing.
 */
export function onError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof ProblemError) return problemResponse(c, err);
  if (err instanceof HTTPException) {
    // Hono's own refusals (the validators' media-type gate, a body it could not parse).
    if (err.status === 415) return problemResponse(c, new UnsupportedMediaTypeError());
    if (err.status === 400)
      return problemResponse(c, new BadRequestError(err.message || 'The request is malformed.'));
    return problemResponse(c, new ProblemError(err.status, 'HTTP Error', err.message || 'request refused'));
  }
  const logger = c.get('logger');
  if (isTransientDbError(err)) {
    logger?.warn({ err }, 'database unavailable');
    return problemResponse(
      c,
      new ServiceUnavailableError('The database is unavailable; try again shortly.', 2),
    );
  }
  if (isQueueUnavailable(err)) {
    logger?.warn({ err }, 'queue unavailable');
    return problemResponse(c, new ServiceUnavailableError('The queue is unavailable; try again shortly.', 2));
  }
  logger?.error({ err }, 'unhandled error');
  return problemResponse(
    c,
    new ProblemError(
      500,
      'Internal Server Error',
      'Something went wrong on our side; the request id identifies it in our logs.',
    ),
  );
}

export function notFound(c: Context<AppEnv>): Response {
  return problemResponse(c, new NotFoundError(`No route ${c.req.method} ${c.req.path}.`));
}
