import { z } from 'zod';
import type { AddressPolicy } from '../outbound/address-policy';
import { checkOutboundUrl } from '../outbound/url-policy';

/** The `http` task type's payload: one outbound request, checked at submission against SSRF and header injection. */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const MAX_HTTP_HEADERS = 50;
export const MAX_HTTP_HEADER_VALUE_BYTES = 8 * 1024;
export const MAX_HTTP_TIMEOUT_MS = 600_000;

// RFC 7230 §3.2.6 token characters.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// CR, LF and NUL would split or end the header; the other controls (HTAB aside) are refused too.
// eslint-disable-next-line no-control-regex
const BAD_VALUE_RE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Headers that frame the message or belong to one hop: set by the client, never by a task. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
  'expect',
]);

const headersSchema = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  const names = Object.keys(headers);
  if (names.length > MAX_HTTP_HEADERS) {
    ctx.addIssue({ code: 'custom', message: `at most ${MAX_HTTP_HEADERS} headers` });
  }
  for (const name of names) {
    const value = headers[name]!;
    const problem = !TOKEN_RE.test(name)
      ? 'header name must be an RFC 7230 token'
      : FORBIDDEN_HEADERS.has(name.toLowerCase())
        ? `header ${name} is set by Procurator and may not be given`
        : BAD_VALUE_RE.test(value)
          ? 'header value must not contain CR, LF, NUL or other control characters'
          : Buffer.byteLength(value, 'utf8') > MAX_HTTP_HEADER_VALUE_BYTES
            ? `header value must be at most ${MAX_HTTP_HEADER_VALUE_BYTES} bytes`
            : null;
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [name] });
  }
});

/** The payload schema. Without a policy only the URL's form is checked (the connection checks addresses). */
export function httpPayloadSchema(policy: AddressPolicy = { allowPrivate: true, allowHosts: [] }) {
  return z
    .strictObject({
      url: z.string().superRefine((url, ctx) => {
        const problem = checkOutboundUrl(url, policy);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      method: z.enum(HTTP_METHODS).default('POST'),
      headers: headersSchema.optional(),
      body: z.union([z.string(), z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
      timeoutMs: z.number().int().min(1).max(MAX_HTTP_TIMEOUT_MS).optional(),
    })
    .superRefine((p, ctx) => {
      // Servers and proxies may drop or choke on such bodies; refuse them rather than guess.
      if (p.body !== undefined && (p.method === 'GET' || p.method === 'HEAD')) {
        ctx.addIssue({ code: 'custom', message: `a ${p.method} request cannot have a body`, path: ['body'] });
      }
    });
}

export type HttpPayload = z.output<ReturnType<typeof httpPayloadSchema>>;
