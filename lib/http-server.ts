import { serve } from '@hono/node-server';
import type { Http2Bindings, HttpBindings, ServerType } from '@hono/node-server';
import type { Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ProblemError } from './errors';

/** What the Node HTTP server accepts before the app sees a request. */
export interface HttpLimits {
  /** Bytes of the request line and headers together; a bigger block gets 431. */
  maxHeaderSize: number;
  /** Header lines (Host included); more get 431. */
  maxHeadersCount: number;
  /** The whole header block must arrive within this, or 408: a Slowloris client holds nothing long. */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this, or 408. */
  requestTimeoutMs: number;
  /** How often Node looks for connections past those timeouts (its default is 30 s). */
  checkIntervalMs: number;
}

/**
 * Node's own 16 KiB header cap, pinned so that `--max-http-header-size` cannot raise it; 100
 * header lines (real clients send 10-30); 10 s for headers, 60 s for a request: a 1 MiB body
 * (the default MAX_BODY_BYTES) needs about 17 KiB/s.
 */
export const HTTP_LIMITS: Readonly<HttpLimits> = {
  maxHeaderSize: 16 * 1024,
  maxHeadersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  checkIntervalMs: 1_000,
};

type Fetch = (req: Request, env: HttpBindings | Http2Bindings) => Response | Promise<Response>;

/** Listens on hostname:port with the limits; resolves once listening. */
export function listenHttp(
  fetch: Fetch,
  hostname: string,
  port: number,
  limits: Readonly<HttpLimits> = HTTP_LIMITS,
): Promise<ServerType> {
  const guarded: Fetch = (req, env) =>
    headerLines(env) > limits.maxHeadersCount
      ? problem(431, 'Request Header Fields Too Large', `More than ${limits.maxHeadersCount} header lines.`)
      : fetch(req, env);
  return new Promise<ServerType>((resolve, reject) => {
    const server = serve(
      {
        fetch: guarded,
        hostname,
        port,
        serverOptions: {
          maxHeaderSize: limits.maxHeaderSize,
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          connectionsCheckingInterval: limits.checkIntervalMs,
        },
      },
      () => resolve(server),
    );
    const http = server as Server;
    // Past maxHeadersCount Node drops header lines silently: a request could lose its token
    // or Idempotency-Key unnoticed. One more than the limit is kept, so that an excess shows
    // in rawHeaders and is refused above instead.
    http.maxHeadersCount = limits.maxHeadersCount + 1;
    http.on('clientError', answerClientError);
    server.once('error', reject);
  });
}

/** Header lines as received (rawHeaders alternates names and values). */
function headerLines(env: HttpBindings | Http2Bindings): number {
  return env.incoming.rawHeaders.length / 2;
}

function problem(status: number, title: string, detail: string): Response {
  const body = JSON.stringify(new ProblemError(status, title, detail).toJSON());
  return new Response(body, { status, headers: { 'Content-Type': 'application/problem+json' } });
}

/**
 * Node's answer to a request it could not parse, as problem+json instead of its bare status
 * line. As Node's default handler does: nothing is written once a response has started (it
 * would corrupt the stream), and the connection is closed after the answer.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, title, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'The request headers are too large.']
      : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
        ? [413, 'Payload Too Large', 'The chunk extensions are too large.']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'The request did not arrive in time.']
          : [400, 'Bad Request', 'The request is not valid HTTP.'];
  const body = JSON.stringify(new ProblemError(status, title, detail).toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
