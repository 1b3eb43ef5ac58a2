import type { OutboundClient, OutboundRequest, OutboundResponse } from '../../lib/outbound/outbound-client';

/**
 * A fetch-based OutboundClient for tests: no destination checks at all, so it reaches the
 * 127.0.0.1 servers tests start. Never use it outside test/.
 */
export function plainOutbound(): OutboundClient {
  return {
    async request(req: OutboundRequest): Promise<OutboundResponse> {
      const timeout = AbortSignal.timeout(req.timeoutMs);
      const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
      const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const max = req.maxResponseBytes ?? bytes.byteLength;
      const headers: Record<string, string> = {};
      res.headers.forEach((value, name) => (headers[name] = value));
      return {
        status: res.status,
        headers,
        body: new TextDecoder().decode(bytes.subarray(0, max)),
        truncated: bytes.byteLength > max,
      };
    },
  };
}
