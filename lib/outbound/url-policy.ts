import { isIP } from 'node:net';
import type { AddressPolicy } from './address-policy';
import { isBlockedAddress, isHostExempt, isLocalhostName, normaliseHost } from './address-policy';

/**
 * The submission-time check of an outbound URL (task URLs and callback URLs). It needs no DNS:
 * names are checked again, against every resolved address, inside the connection's own lookup
 * (safe-outbound-client.ts), which is what stops DNS rebinding. Here we refuse what is wrong
 * on its face, so the client hears about it as a 422 instead of a dead task.
 */

export const MAX_OUTBOUND_URL_LENGTH = 2048;

/** A problem with `raw` as an outbound destination, or null when it may be tried. */
export function checkOutboundUrl(raw: string, policy: AddressPolicy): string | null {
  if (raw.length > MAX_OUTBOUND_URL_LENGTH) return `must be at most ${MAX_OUTBOUND_URL_LENGTH} characters`;
  let url: URL;
  try {
    // WHATWG parsing turns 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 into 127.0.0.1, the
    // same address the resolver would connect to, so the literal check below sees through them.
    url = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  // Userinfo hides the real host from a human reader (http://trusted.example@10.0.0.1/).
  if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
  if (url.hostname === '') return 'must name a host';
  if (isHostExempt(url.hostname, policy)) return null;
  if (isLocalhostName(url.hostname)) return 'must not point at localhost';
  const host = normaliseHost(url.hostname);
  if (isIP(host) !== 0 && isBlockedAddress(host)) {
    return 'must not point at a private, loopback, link-local or reserved address';
  }
  return null;
}
