import type { MiddlewareHandler } from 'hono';
import { submittedTrace } from '../../lib/tasks/task-trace';
import { parseTraceparent } from '../../lib/tracing/trace-context';
import type { Tracing } from '../../lib/tracing/tracing';
import type { AppEnv } from '../context';

/**
 * The span of a submission request (`POST <route>`), under the caller's `traceparent` when it
 * sent a valid one. A malformed header is ignored, as W3C Trace Context asks of a receiver:
 * the request is served in a new trace, never refused for it. The trace the tasks keep is put
 * on the context for the handler. The span covers the whole request, admission included, and
 * is marked failed only for a 5xx: a client's mistake is not the server's error.
 */
export function submissionTrace(tracing: Tracing, route: string): MiddlewareHandler<AppEnv> {
  const name = `POST ${route}`;
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const incoming = parseTraceparent(c.req.header('traceparent'));
    const span = tracing.start(
      name,
      incoming && { traceId: incoming.traceId, spanId: incoming.spanId, flags: incoming.flags },
      {
        kind: 'server',
        attributes: tracing.exporting ? { 'http.request.method': 'POST', 'http.route': route } : undefined,
      },
    );
    c.set('trace', submittedTrace(span, incoming));
    try {
      await next();
    } finally {
      const status = c.res.status;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.fail(c.error ?? new Error(`HTTP ${status}`));
      span.end();
    }
  };
}
