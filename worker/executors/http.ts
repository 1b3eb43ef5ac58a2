import { httpPayloadSchema } from '../../lib/catalog/http-payload';
import type { HttpPayload } from '../../lib/catalog/http-payload';
import { defineTaskType } from '../../lib/catalog/task-type';
import type { ExecutingTask } from '../../lib/catalog/task-type';
import { PermanentTaskError, RetryAfterError, RetryableTaskError } from '../../lib/errors';
import type { AddressPolicy } from '../../lib/outbound/address-policy';
import type { OutboundClient, OutboundResponse } from '../../lib/outbound/outbound-client';
import { cutText } from '../../lib/text';

/** Response bytes kept in the result (API.md: body cut at 64 KiB). */
export const HTTP_RESULT_MAX_BYTES = 64 * 1024;
/** The longest Retry-After we honour; a longer wait is the upstream asking too much of a queue. */
export const MAX_RETRY_AFTER_MS = 3_600_000;
const ERROR_BODY_CHARS = 500;

/**
 * Our headers win over a task's own of the same name: receivers deduplicate on the first
 * three; the trace context is the attempt's (a task's own tracestate would describe another
 * parent, so it goes too).
 */
const RESERVED_HEADERS = [
  'idempotency-key',
  'procurator-attempt',
  'procurator-task-id',
  'traceparent',
  'tracestate',
];

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  truncated: boolean;
}

/**
 * http: one outbound request; the status decides success, retry or failure. The policy
 * (OUTBOUND_ALLOW_PRIVATE, OUTBOUND_ALLOW_HOSTS) checks the URL at submission; the outbound
 * client checks every address it connects to again.
 */
export function httpTaskType(policy: AddressPolicy) {
  return defineTaskType({
    type: 'http',
    description:
      'Sends one HTTP request (redirects not followed); 2xx succeeds, 408/429/5xx and network errors retry.',
    payload: httpPayloadSchema(policy),
    execute: ({ task, attempt, signal, traceparent }, { outbound }) =>
      sendHttp(outbound, task, attempt, signal, traceparent),
  });
}

async function sendHttp(
  client: OutboundClient,
  task: ExecutingTask<HttpPayload>,
  attempt: number,
  signal: AbortSignal,
  traceparent: string,
): Promise<HttpResult> {
  const p = task.payload;
  const { body, contentType } = encodeBody(p);
  const headers: [string, string][] = Object.entries(p.headers ?? {}).filter(
    ([name]) => !RESERVED_HEADERS.includes(name.toLowerCase()),
  );
  const hasContentType = headers.some(([name]) => name.toLowerCase() === 'content-type');
  if (contentType && !hasContentType) headers.push(['Content-Type', contentType]);
  headers.push(
    ['Idempotency-Key', task.id],
    ['Procurator-Attempt', String(attempt)],
    ['Procurator-Task-Id', task.id],
    ['traceparent', traceparent],
  );
  const res = await client.request({
    url: p.url,
    method: p.method,
    // fromEntries defines properties, so a header named __proto__ stays an ordinary key.
    headers: Object.fromEntries(headers),
    body,
    timeoutMs: p.timeoutMs ?? task.timeoutMs,
    signal,
    maxResponseBytes: HTTP_RESULT_MAX_BYTES,
  });
  return judge(res);
}

function encodeBody(p: HttpPayload): { body?: string; contentType?: string } {
  if (p.body === undefined) return {};
  if (typeof p.body === 'string') return { body: p.body, contentType: 'text/plain; charset=utf-8' };
  return { body: JSON.stringify(p.body), contentType: 'application/json' };
}

function judge(res: OutboundResponse): HttpResult {
  // PostgreSQL refuses NUL in text and jsonb: a response carrying one must not fail the write.
  const text = res.body.replaceAll('\u0000', '\uFFFD');
  const status = res.status;
  if (status >= 200 && status < 300) {
    return { status, headers: res.headers, body: decodeBody(text, res), truncated: res.truncated };
  }
  const code = `http_${status}`;
  const redirect = status >= 300 && status < 400;
  const location = redirect ? res.headers.location : undefined;
  const note = redirect
    ? ` (redirect${location ? ` to ${cutText(location, ERROR_BODY_CHARS)}` : ''} not followed)`
    : '';
  const message = `upstream answered HTTP ${status}${note}: ${cutText(text, ERROR_BODY_CHARS)}`;
  if (status === 408 || status === 429 || status >= 500) {
    const delayMs = retryAfterMs(res.headers['retry-after']);
    throw delayMs === undefined
      ? new RetryableTaskError(message, code)
      : new RetryAfterError(message, delayMs, code);
  }
  if (redirect) throw new PermanentTaskError(message, 'redirect_not_followed');
  throw new PermanentTaskError(message, code);
}

/** Parsed JSON when the answer says it is JSON and arrived whole; text otherwise. */
function decodeBody(text: string, res: OutboundResponse): unknown {
  const type = res.headers['content-type'] ?? '';
  if (res.truncated || !/^application\/([\w.+-]+\+)?json\b/i.test(type.trim())) return text;
  try {
    const value: unknown = JSON.parse(text);
    // A \u0000 escape decodes to NUL, which the database would refuse: keep such answers as text.
    return JSON.stringify(value).includes('\\u0000') ? text : value;
  } catch {
    return text;
  }
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), capped; undefined if absent or unreadable. */
export function retryAfterMs(header: string | undefined, now: number = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else {
    // Every HTTP-date form starts with a day name; Date.parse alone would read "-5" as a year.
    const at = /^[A-Za-z]{3}/.test(value) ? Date.parse(value) : NaN;
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}
