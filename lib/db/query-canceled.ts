/**
 * True when PostgreSQL cancelled the statement (SQLSTATE 57014 query_canceled): its
 * statement_timeout fired, or someone cancelled it with pg_cancel_backend. Kept apart from
 * isTransientDbError: the same statement tried again at once would most likely run as long
 * again, so the worker's write retries must not take it for a blip. Drizzle wraps driver
 * errors, so the cause chain is searched.
 */
export function isQueryCanceled(err: unknown): boolean {
  let e = err as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; e && depth < 10; depth++) {
    if (e.code === '57014') return true;
    e = e.cause as typeof e;
  }
  return false;
}
