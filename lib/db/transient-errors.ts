/**
 * The one list of database errors worth another try (and, in the API, a 503 with
 * Retry-After instead of a 500): connection failures, a server starting or shutting down,
 * resource exhaustion, serialization conflicts.
 */
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: unknown; message?: unknown } | null;
  if (!e) return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^(08|57P|53|40001|40P01)/.test(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
    return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      message,
    )
  ) {
    return true;
  }
  return e.cause !== undefined && e.cause !== err ? isTransientDbError(e.cause) : false;
}

/**
 * A value the database refuses to store (class 22, data exception: bad text, an encoding it
 * cannot hold, a number out of range; class 54, a limit such as nesting depth): trying again
 * cannot help, so the outcome holding it fails its task for good instead.
 */
export function isRefusedValueError(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (typeof e.code === 'string' && /^(22|54)/.test(e.code)) return true;
    e = e.cause as typeof e;
  }
  return false;
}
