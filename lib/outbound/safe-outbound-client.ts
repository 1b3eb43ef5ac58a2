import dns from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { PermanentTaskError, RetryableTaskError } from '../errors';
import type { AddressPolicy } from './address-policy';
import { isBlockedAddress, isHostExempt, isLocalhostName } from './address-policy';
import type { OutboundClient, OutboundRequest, OutboundResponse } from './outbound-client';

/** How a name is resolved: the shape of dns.lookup called with {all: true}. */
export type LookupAll = (
  hostname: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export interface SafeOutboundClientOptions {
  policy: AddressPolicy;
  /** Replaces dns.lookup, for tests. */
  lookup?: LookupAll;
  /** How long a TCP/TLS connect may take (default 10 s). */
  connectTimeoutMs?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** The destination resolves to (or is) an address the policy forbids. Not retried. */
export class BlockedDestinationError extends PermanentTaskError {
  constructor(host: string) {
    // Never name the address: that would turn the error into a scanner of our own network.
    super(
      `destination blocked: ${host} resolves to a private, loopback or link-local address`,
      'blocked_destination',
    );
    this.name = 'BlockedDestinationError';
  }
}

const defaultLookup: LookupAll = (hostname, options, callback) => dns.lookup(hostname, options, callback);

/**
 * The only OutboundClient that reaches the network. The address check runs inside the
 * socket's own DNS lookup, on every address the name resolves to, so the address checked is
 * the address connected to (no DNS rebinding window). Redirects are never followed.
 */
export class SafeOutboundClient implements OutboundClient {
  private readonly agent: Agent;

  constructor(private readonly opts: SafeOutboundClientOptions) {
    const connector = buildConnector({
      lookup: this.guardedLookup(opts.lookup ?? defaultLookup),
      timeout: opts.connectTimeoutMs ?? 10_000,
    });
    this.agent = new Agent({
      connect: (options, callback) => {
        // net.connect skips the lookup for literal addresses, so they are judged here.
        if (isIP(options.hostname) !== 0 && this.blocks(options.hostname, [options.hostname])) {
          callback(new BlockedDestinationError(options.hostname), null);
          return;
        }
        connector(options, callback);
      },
    });
  }

  private blocks(host: string, addresses: string[]): boolean {
    return !isHostExempt(host, this.opts.policy) && addresses.some(isBlockedAddress);
  }

  /** A net.connect lookup that refuses when any answer is blocked, in either calling style. */
  private guardedLookup(lookup: LookupAll): LookupFunction {
    return (hostname: string, options: LookupOptions, callback) => {
      lookup(hostname, { all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        if (addresses.length === 0) {
          const e: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          e.code = 'ENOTFOUND';
          return callback(e, '', 0);
        }
        // Any blocked answer refuses the name: otherwise a resolver that mixes public and
        // private answers could steer the connection to the private one.
        const answers = addresses.map(({ address }) => address);
        if (this.blocks(hostname, answers)) {
          return callback(new BlockedDestinationError(hostname), '', 0);
        }
        const wanted = addresses.filter((a) => !options.family || a.family === options.family);
        const usable = wanted.length > 0 ? wanted : addresses;
        if (options.all) return callback(null, usable);
        return callback(null, usable[0]!.address, usable[0]!.family);
      });
    };
  }

  /** Sends one request; see OutboundClient. Throws task errors classified for retry. */
  async request(req: OutboundRequest): Promise<OutboundResponse> {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new PermanentTaskError('invalid URL', 'invalid_url');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PermanentTaskError('only http and https URLs are allowed', 'invalid_url');
    }
    if (url.username !== '' || url.password !== '') {
      throw new PermanentTaskError('URLs with a user name or password are not allowed', 'invalid_url');
    }
    // localhost, localhost. and *.localhost are loopback by definition (RFC 6761), whatever a
    // resolver answers: asking one would send `localhost.` to the network's DNS server, and
    // its "not found" would come back as a retryable network error instead of a refusal.
    if (isLocalhostName(url.hostname) && !isHostExempt(url.hostname, this.opts.policy)) {
      throw new BlockedDestinationError(url.hostname);
    }
    const timeout = AbortSignal.timeout(req.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    const limit = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    try {
      const res = await this.agent.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: Object.entries(req.headers ?? {}).flat(),
        body: req.body ?? null,
        signal,
        // The signal carries the whole-request deadline; undici's own (300 s) must not cut in first.
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > limit) {
          chunks.push(chunk.subarray(0, limit - size));
          truncated = true;
          break;
        }
        chunks.push(chunk);
        size += chunk.length;
      }
      // Leaving the loop early must not leave the rest of a huge body flowing in.
      if (truncated) res.body.destroy();
      return {
        status: res.statusCode,
        headers: flattenHeaders(res.headers),
        body: Buffer.concat(chunks).toString('utf8'),
        truncated,
      };
    } catch (err) {
      throw classify(err, url.hostname, req.signal, timeout, req.timeoutMs);
    }
  }

  /** Closes pooled connections; pending requests finish first. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  // fromEntries defines properties, so an upstream header named __proto__ stays an ordinary key.
  return Object.fromEntries(
    Object.entries(headers)
      .filter((e): e is [string, string | string[]] => e[1] !== undefined)
      .map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]),
  );
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);
const REQUEST_CODES = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_ARG_TYPE']);

/** Turns what undici or the socket threw into a task error. Messages never carry addresses. */
function classify(
  err: unknown,
  host: string,
  callerSignal: AbortSignal | undefined,
  timeout: AbortSignal,
  timeoutMs: number,
): unknown {
  if (err instanceof PermanentTaskError || err instanceof RetryableTaskError) return err;
  // The caller's abort (cancellation, shutdown) is not ours to classify: the worker handles it.
  if (callerSignal?.aborted) {
    const reason: unknown = callerSignal.reason;
    return reason instanceof Error ? reason : new DOMException(`aborted: ${String(reason)}`, 'AbortError');
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (timeout.aborted || (typeof code === 'string' && TIMEOUT_CODES.has(code))) {
    return new RetryableTaskError(`request to ${host} timed out after ${timeoutMs} ms`, 'timeout');
  }
  if (typeof code === 'string' && REQUEST_CODES.has(code)) {
    const message = err instanceof Error ? err.message : String(err);
    return new PermanentTaskError(`invalid request: ${message}`, 'invalid_request');
  }
  // Socket messages such as "connect ECONNREFUSED 10.1.2.3:80" name the address: keep the code only.
  const what = typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown error';
  return new RetryableTaskError(`network error reaching ${host}: ${what}`, 'network_error');
}
