import type { Stack, StackOptions } from './stack';
import { startStack } from './stack';

/** What @hono/node-server passes as `env`: getConnInfo reads the socket's address. */
export const fromAddress = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } });

export interface LimitedStack extends Stack {
  /** GET `path` as a client connected from `address`, with `token` if given. */
  get(path: string, token: string | null, address?: string): Promise<Response>;
}

/**
 * An API without a worker whose limits a test reaches in a few requests: a burst of 3 at 1
 * request a second, and 3 failed authentications a minute per address.
 */
export async function startLimitedStack(opts: StackOptions = {}): Promise<LimitedStack> {
  const stack = await startStack({
    ...opts,
    worker: false,
    config: { RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '3', AUTH_FAILURES_PER_MINUTE: '3', ...opts.config },
  });
  const get = (path: string, token: string | null, address = '10.9.9.9') =>
    Promise.resolve(
      stack.app.request(path, { headers: token ? { 'X-API-Token': token } : {} }, fromAddress(address)),
    );
  return Object.assign(stack, { get });
}
