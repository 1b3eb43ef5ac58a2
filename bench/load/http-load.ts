import { forkChild } from './child-process';

export interface HttpLoadOptions {
  /** Only 127.0.0.1 / localhost: this benchmark never sends traffic off the machine. */
  url: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds?: number;
}

export interface HttpLoadResult {
  /** 2xx responses divided by the measured run's duration (the warm-up excluded). */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
}

/** What http-load-child.ts reports. */
export type HttpLoadMessage = { type: 'result' } & HttpLoadResult;

/**
 * HTTP load with autocannon (keep-alive, no pipelining) from a child process.
 *
 * On this 2-core machine autocannon competes for CPU with the server it loads (and with Redis
 * and PostgreSQL): the figures are lower than a separate load machine would give. The bare
 * Hono + XADD ceiling is loaded the same way and pays the same cost, so the ratio between our
 * endpoint and the ceiling stays fair even though neither absolute figure is.
 */
export async function httpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  const host = new URL(options.url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    throw new Error(`httpLoad: refusing to load ${host}; only this machine is a target`);
  }
  const child = await forkChild<HttpLoadMessage>('bench/load/http-load-child.ts', options);
  try {
    const budgetMs = ((options.warmupSeconds ?? 0) + options.durationSeconds) * 1000 + 30_000;
    const { type: _type, ...result } = await child.next('result', budgetMs);
    return result;
  } finally {
    await child.stop();
  }
}
