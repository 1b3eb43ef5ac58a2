import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a RequestRecorder got. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestRecorder {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  requests: RecordedRequest[];
  /** Resolves with the first request (past or future) whose path starts with `prefix`. */
  waitFor(prefix: string, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/**
 * A server on 127.0.0.1 that keeps every request and answers `answer` (default 200 `{}`):
 * the target of `http` tasks and the collector of OTLP exports in tests.
 */
export async function startRequestRecorder(
  answer: (r: RecordedRequest) => { status: number; body?: string; type?: string } = () => ({
    status: 200,
    body: '{}',
    type: 'application/json',
  }),
): Promise<RequestRecorder> {
  const requests: RecordedRequest[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(r);
      const a = answer(r);
      res.writeHead(a.status, a.type ? { 'Content-Type': a.type } : {}).end(a.body ?? '');
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    waitFor(prefix, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = requests.find((r) => r.path.startsWith(prefix));
          if (!hit) return;
          done();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no request to ${prefix} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
