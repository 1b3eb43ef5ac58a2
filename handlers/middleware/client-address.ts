import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import ipaddr from 'ipaddr.js';

/**
 * The address a request comes from, as a throttling key: the TCP peer, or — only when
 * TRUST_PROXY says a reverse proxy of ours stands in front — the last X-Forwarded-For entry,
 * the one that proxy appended (entries before it are whatever the client wrote).
 * IPv6 clients are keyed by their /64, which one subscriber usually holds whole.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const last = c.req.header('x-forwarded-for')?.split(',').pop()?.trim();
    if (last && ipaddr.isValid(last)) return throttleKey(last);
  }
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    // Not served by @hono/node-server (app.request() in tests): no socket to ask.
  }
  return peer ? throttleKey(peer) : 'unknown';
}

function throttleKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address); // ::ffff:a.b.c.d becomes a.b.c.d
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${ip.toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}
