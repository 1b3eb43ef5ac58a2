import ipaddr from 'ipaddr.js';
import type { Config } from '../config';

/**
 * Which IP addresses outbound requests (http tasks, callbacks) may reach. Everything that
 * leads back into our own network is blocked: loopback, private, link-local (cloud metadata
 * lives at 169.254.169.254), carrier-grade NAT, benchmarking, multicast and reserved space,
 * and IPv6 forms that wrap such an IPv4 address.
 */

/** From OUTBOUND_ALLOW_PRIVATE and OUTBOUND_ALLOW_HOSTS (lower-cased host names). */
export interface AddressPolicy {
  allowPrivate: boolean;
  allowHosts: string[];
}

/** The policy the configuration asks for. */
export function addressPolicyFromConfig(
  config: Pick<Config, 'OUTBOUND_ALLOW_PRIVATE' | 'OUTBOUND_ALLOW_HOSTS'>,
): AddressPolicy {
  return {
    allowPrivate: config.OUTBOUND_ALLOW_PRIVATE,
    allowHosts: config.OUTBOUND_ALLOW_HOSTS.map(normaliseHost),
  };
}

const cidrs = <T>(list: string[], parse: (s: string) => [T, number]) => list.map(parse);

const BLOCKED_V4 = cidrs(
  [
    '0.0.0.0/8',
    '127.0.0.0/8',
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '169.254.0.0/16',
    '100.64.0.0/10',
    '192.0.0.0/24',
    '198.18.0.0/15',
    '224.0.0.0/4',
    // 240/4 includes the broadcast address 255.255.255.255.
    '240.0.0.0/4',
  ],
  (s) => ipaddr.IPv4.parseCIDR(s),
);

const BLOCKED_V6 = cidrs(
  [
    '::/128',
    '::1/128',
    'fc00::/7',
    'fe80::/10',
    // Deprecated site-local space: still routed inside some networks.
    'fec0::/10',
    'ff00::/8',
  ],
  (s) => ipaddr.IPv6.parseCIDR(s),
);

/** IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at. */
const EMBEDS_V4_AT_END = cidrs(
  [
    '::ffff:0:0/96', // IPv4-mapped
    '::ffff:0:0:0/96', // IPv4-translated (RFC 6145)
    '64:ff9b::/96', // NAT64 well-known prefix
    '64:ff9b:1::/48', // NAT64 local-use prefix (RFC 8215)
    '::/96', // deprecated IPv4-compatible form
  ],
  (s) => ipaddr.IPv6.parseCIDR(s),
);

const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR('2002::/16');

function isBlockedV4(a: ipaddr.IPv4): boolean {
  return BLOCKED_V4.some((range) => a.match(range));
}

function v4FromParts(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

function isBlockedV6(a: ipaddr.IPv6): boolean {
  if (BLOCKED_V6.some((range) => a.match(range))) return true;
  const p = a.parts;
  if (EMBEDS_V4_AT_END.some((range) => a.match(range))) return isBlockedV4(v4FromParts(p[6]!, p[7]!));
  // 6to4 carries the IPv4 address in bits 16-47.
  if (a.match(SIX_TO_FOUR)) return isBlockedV4(v4FromParts(p[1]!, p[2]!));
  return false;
}

/** True when `address` must not be connected to; anything that is not an IP address is. */
export function isBlockedAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return true;
  const parsed = ipaddr.parse(bare);
  return parsed.kind() === 'ipv4' ? isBlockedV4(parsed as ipaddr.IPv4) : isBlockedV6(parsed as ipaddr.IPv6);
}

/** Host names compare lower-cased, without IPv6 brackets or a trailing root dot. */
export function normaliseHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** True when the policy lets `host` (a name or literal) reach any address. */
export function isHostExempt(host: string, policy: AddressPolicy): boolean {
  if (policy.allowPrivate) return true;
  const h = normaliseHost(host);
  return policy.allowHosts.some((allowed) => normaliseHost(allowed) === h);
}

/** True for localhost, localhost. and *.localhost, which resolvers answer with loopback. */
export function isLocalhostName(host: string): boolean {
  const h = normaliseHost(host);
  return h === 'localhost' || h.endsWith('.localhost');
}
