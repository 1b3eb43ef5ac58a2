import type { Context, MiddlewareHandler } from 'hono';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors';
import type { AppEnv } from '../context';

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a JSON request body with the checks a public endpoint needs: 415 unless it is JSON,
 * 413 past `maxBytes` (with or without Content-Length: a chunked body is counted as it
 * streams in and abandoned at the limit), 400 for invalid UTF-8 or malformed JSON.
 */
export async function readJsonBody(c: Context, maxBytes: number): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(type)) throw new UnsupportedMediaTypeError();
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > maxBytes) throw new PayloadTooLargeError(maxBytes);
  let bytes: Uint8Array;
  if (declared !== undefined) {
    // The HTTP parser delivers exactly Content-Length bytes, so the whole body can be read at
    // once — the fast path, which avoids materialising a Web ReadableStream per request.
    bytes = new Uint8Array(await c.req.arrayBuffer());
  } else {
    bytes = await readCounted(c.req.raw.body, maxBytes);
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new BadRequestError('The request body is not valid UTF-8.');
  }
  if (text.trim() === '')
    throw new BadRequestError('The request body is empty; a JSON document is expected.');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const reason = err instanceof RangeError ? 'it is nested too deeply' : (err as Error).message;
    throw new BadRequestError(`The request body is not valid JSON: ${reason}`);
  }
}

/** A chunked body, counted as it streams in and abandoned past the limit. */
async function readCounted(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A body comes with the request (a request to a route without one, such as a cancel, may
 * still say it sends JSON). Over HTTP the headers tell; a Request made in-process says it by
 * having a body at all.
 */
function hasBody(c: Context): boolean {
  const length = c.req.header('content-length');
  if (length !== undefined) return length !== '0';
  return c.req.header('transfer-encoding') !== undefined || c.req.raw.body !== null;
}

/**
 * Reads a JSON request body once, with readJsonBody's limits, before the route's validator
 * looks at it. The request's `json()` then answers that document: Hono's own re-reads the
 * body's text and parses it again (twice the work on every submission, and past readJsonBody's
 * checks). A body that is not JSON is left to the route: one that takes JSON refuses it (415).
 */
export function jsonBody(d: { maxBytes: number }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (WITH_BODY.has(c.req.method) && JSON_TYPE.test(c.req.header('content-type') ?? '') && hasBody(c)) {
      const parsed = Promise.resolve(await readJsonBody(c, d.maxBytes));
      c.req.json = <T>() => parsed as Promise<T>;
    }
    await next();
  };
}
