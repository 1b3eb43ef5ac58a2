import { cutText, storableText } from './text';

/**
 * One error hierarchy. API errors carry their problem+json shape (RFC 9457) and are mapped
 * once, in the app's onError. Task errors tell the worker how to treat a failed attempt.
 */

export interface FieldProblem {
  path: string;
  message: string;
}

/** An error that becomes an application/problem+json answer. */
export class ProblemError extends Error {
  readonly type: string;
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: { errors?: FieldProblem[]; headers?: Record<string, string>; slug?: string } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.type = `urn:procurator:problem:${extra.slug ?? title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  }

  get detail(): string {
    return this.message;
  }

  toJSON(): Record<string, unknown> {
    return {
      type: this.type,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(this.extra.errors ? { errors: this.extra.errors } : {}),
    };
  }
}

export class BadRequestError extends ProblemError {
  constructor(detail: string) {
    super(400, 'Bad Request', detail);
  }
}

export class UnauthorizedError extends ProblemError {
  constructor(detail = 'A valid API token is required (X-API-Token or Authorization: Bearer).') {
    super(401, 'Unauthorized', detail, { headers: { 'WWW-Authenticate': 'Bearer realm="procurator"' } });
  }
}

export class ForbiddenError extends ProblemError {
  constructor(detail: string) {
    super(403, 'Forbidden', detail);
  }
}

export class NotFoundError extends ProblemError {
  constructor(detail: string) {
    super(404, 'Not Found', detail);
  }
}

export class ConflictError extends ProblemError {
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}

export class PayloadTooLargeError extends ProblemError {
  constructor(limit: number) {
    super(413, 'Payload Too Large', `The request body exceeds the limit of ${limit} bytes.`);
  }
}

export class UnsupportedMediaTypeError extends ProblemError {
  constructor() {
    super(415, 'Unsupported Media Type', 'The request body must be JSON (Content-Type: application/json).');
  }
}

export class ValidationError extends ProblemError {
  constructor(detail: string, errors: FieldProblem[] = []) {
    super(422, 'Unprocessable Content', detail, { errors, slug: 'validation' });
  }
}

export class RateLimitedError extends ProblemError {
  constructor(detail: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(429, 'Too Many Requests', detail, {
      headers: { ...headers, 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

export class ServiceUnavailableError extends ProblemError {
  constructor(detail: string, retryAfterSeconds = 2) {
    super(503, 'Service Unavailable', detail, { headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

/**
 * The database cancelled a list or log read that ran past LIST_QUERY_TIMEOUT_MS. 503 like an
 * unavailable database, not 500: nothing is broken, and the same read may pass when the
 * database is less busy. Not a 4xx either: the request is valid, and what it costs depends on
 * how much is stored, which the client cannot see. Its own type tells a client that narrowing
 * the query is the fix, and Retry-After (at least the limit) keeps a blind retry from holding
 * a connection more than half the time.
 */
export class QueryTimeoutError extends ProblemError {
  constructor(readonly timeoutMs: number) {
    super(
      503,
      'Query Timeout',
      `The database stopped this read after ${timeoutMs} ms (LIST_QUERY_TIMEOUT_MS). Narrow it and ` +
        'try again: on /v1/logs, since and until, kind and taskId are served by indexes, while q ' +
        'reads every entry of the time range.',
      { headers: { 'Retry-After': String(Math.max(1, Math.ceil(timeoutMs / 1000))) }, slug: 'query-timeout' },
    );
  }
}

/** Anything caught, as an Error. */
export function coerceError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  try {
    return new Error(JSON.stringify(err));
  } catch {
    return new Error(String(err));
  }
}

/** A task attempt failed in a way that retrying cannot fix: the task goes to the DLQ now. */
export class PermanentTaskError extends Error {
  constructor(
    message: string,
    readonly code = 'permanent',
  ) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}

/** A task attempt failed and may succeed later; `code` classifies it for operators. */
export class RetryableTaskError extends Error {
  constructor(
    message: string,
    readonly code = 'retryable',
  ) {
    super(message);
    this.name = 'RetryableTaskError';
  }
}

/** The upstream asked us to come back after `delayMs` (429/503 Retry-After). */
export class RetryAfterError extends RetryableTaskError {
  constructor(
    message: string,
    readonly delayMs: number,
    code = 'retry_after',
  ) {
    super(message, code);
    this.name = 'RetryAfterError';
  }
}

/** The attempt ran past its timeoutMs. Retryable. */
export class TaskTimeoutError extends RetryableTaskError {
  constructor(timeoutMs: number) {
    super(`The attempt timed out after ${timeoutMs} ms.`, 'timeout');
    this.name = 'TaskTimeoutError';
  }
}

/** The task was cancelled while it ran. */
export class TaskCancelledError extends Error {
  constructor() {
    super('The task was cancelled.');
    this.name = 'TaskCancelledError';
  }
}

/** What the task row keeps of a failed attempt. */
export interface TaskErrorInfo {
  message: string;
  code: string;
  retryable: boolean;
  [key: string]: unknown;
}

/** Classifies what an executor threw. Unknown errors are retryable. */
export function describeTaskError(err: unknown): TaskErrorInfo {
  const e = coerceError(err);
  const message = storableText(cutText(e.message, 8192)) || e.name;
  if (e instanceof PermanentTaskError) return { message, code: e.code, retryable: false };
  if (e instanceof RetryableTaskError) return { message, code: e.code, retryable: true };
  if (e instanceof TaskCancelledError) return { message, code: 'cancelled', retryable: false };
  return { message, code: 'error', retryable: true };
}
