import { describe, expect, it } from 'vitest';
import { httpPayloadSchema } from '../../lib/catalog/http-payload';
import { httpTaskType } from '../../worker/executors/http';
import { addressPolicyFromConfig, isBlockedAddress } from '../../lib/outbound/address-policy';
import type { AddressPolicy } from '../../lib/outbound/address-policy';
import { checkOutboundUrl } from '../../lib/outbound/url-policy';
import { retryAfterMs } from '../../worker/executors/http';

const strict: AddressPolicy = { allowPrivate: false, allowHosts: [] };

describe('isBlockedAddress', () => {
  it.each([
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', 'this network'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'IPv6 unspecified'],
    ['::1', 'IPv6 loopback'],
    ['[::1]', 'bracketed IPv6 loopback'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with a zone'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::10.0.0.1', 'NAT64 of private'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of metadata'],
    ['2002:7f00:1::', '6to4 of loopback'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['2002:a9fe:a9fe::', '6to4 of metadata'],
    ['localhost', 'not an IP'],
    ['example.com', 'not an IP'],
    ['', 'empty'],
    ['999.1.1.1', 'not an IP'],
  ])('blocks %s (%s)', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it.each([
    ['8.8.8.8'],
    ['1.1.1.1'],
    ['172.15.255.255'],
    ['172.32.0.1'],
    ['100.63.255.255'],
    ['100.128.0.1'],
    ['198.17.255.255'],
    ['198.20.0.1'],
    ['223.255.255.255'],
    ['192.0.1.1'],
    ['2606:4700:4700::1111'],
    ['2001:4860:4860::8888'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
    ['2002:808:808::1'],
  ])('allows %s', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });
});

describe('checkOutboundUrl', () => {
  it.each([
    ['ftp://example.com/', 'http or https'],
    ['file:///etc/passwd', 'http or https'],
    ['gopher://example.com/', 'http or https'],
    ['javascript:alert(1)', 'http or https'],
    ['not a url', 'absolute'],
    ['/relative/path', 'absolute'],
    ['http://user@example.com/', 'user name'],
    ['http://user:pw@example.com/', 'user name'],
    ['http://user@127.0.0.1/', 'user name'],
    ['http://example.com@10.0.0.1/', 'user name'],
    ['http://localhost/', 'localhost'],
    ['http://LOCALHOST:8080/', 'localhost'],
    ['http://localhost./', 'localhost'],
    ['http://api.localhost/', 'localhost'],
    ['http://127.0.0.1/', 'private'],
    ['http://127.0.0.1./', 'private'],
    ['http://2130706433/', 'private'],
    ['http://0x7f000001/', 'private'],
    ['http://0177.0.0.1/', 'private'],
    ['http://127.1/', 'private'],
    ['http://0x7f.1/', 'private'],
    ['http://%31%32%37.0.0.1/', 'private'],
    ['http://0.0.0.0:8080/', 'private'],
    ['http://10.1.2.3/', 'private'],
    ['http://172.16.5.4/', 'private'],
    ['http://192.168.0.1/', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'private'],
    ['http://100.64.0.1/', 'private'],
    ['http://[::1]/', 'private'],
    ['http://[::]/', 'private'],
    ['http://[::ffff:127.0.0.1]/', 'private'],
    ['http://[0:0:0:0:0:ffff:7f00:1]/', 'private'],
    ['http://[fe80::1]/', 'private'],
    ['http://[fd00::1]/', 'private'],
    ['http://[64:ff9b::127.0.0.1]/', 'private'],
    ['http://[2002:7f00:1::]/', 'private'],
    [`https://example.com/${'a'.repeat(2100)}`, 'at most'],
  ])('refuses %s', (url, fragment) => {
    const problem = checkOutboundUrl(url, strict);
    expect(problem).toContain(fragment);
  });

  it.each([
    'http://example.com/',
    'https://example.com:8443/hook?x=1',
    'https://8.8.8.8/',
    'http://[2606:4700:4700::1111]/',
    // Names are judged at connect time, against every address they resolve to.
    'https://internal.example/',
    'http://localhost.example.com/',
  ])('accepts %s', (url) => {
    expect(checkOutboundUrl(url, strict)).toBeNull();
  });

  it('never echoes an address it was not given', () => {
    expect(checkOutboundUrl('http://2130706433/', strict)).not.toContain('127.0.0.1');
  });

  it('lets OUTBOUND_ALLOW_PRIVATE and OUTBOUND_ALLOW_HOSTS through, but never other schemes or userinfo', () => {
    const open = addressPolicyFromConfig({ OUTBOUND_ALLOW_PRIVATE: true, OUTBOUND_ALLOW_HOSTS: [] });
    expect(checkOutboundUrl('http://127.0.0.1:5000/', open)).toBeNull();
    expect(checkOutboundUrl('http://localhost/', open)).toBeNull();
    expect(checkOutboundUrl('ftp://127.0.0.1/', open)).toContain('http or https');
    expect(checkOutboundUrl('http://u@127.0.0.1/', open)).toContain('user name');

    const hosts = addressPolicyFromConfig({
      OUTBOUND_ALLOW_PRIVATE: false,
      OUTBOUND_ALLOW_HOSTS: ['localhost', '10.0.0.5'],
    });
    expect(checkOutboundUrl('http://LocalHost/', hosts)).toBeNull();
    expect(checkOutboundUrl('http://10.0.0.5/', hosts)).toBeNull();
    expect(checkOutboundUrl('http://10.0.0.6/', hosts)).not.toBeNull();
  });
});

describe('http payload schema', () => {
  const schema = httpTaskType(strict).payload;
  const problems = (payload: unknown) => {
    const r = schema.safeParse(payload);
    return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  };

  it.each([
    [{ url: 'https://example.com/' }],
    [
      {
        url: 'https://example.com/',
        method: 'GET',
        headers: { Accept: 'application/json' },
        timeoutMs: 5000,
      },
    ],
    [{ url: 'https://example.com/', body: 'plain text' }],
    [{ url: 'https://example.com/', method: 'PUT', body: { a: [1, 2] } }],
    [{ url: 'https://example.com/', method: 'PATCH', body: [1, 'two'] }],
    [{ url: 'https://example.com/', headers: { 'X-Custom_Header.v2': 'a\tb', Authorization: 'Bearer x' } }],
  ])('accepts %j', (payload) => {
    expect(problems(payload)).toEqual([]);
  });

  it('defaults the method to POST', () => {
    expect(httpPayloadSchema().parse({ url: 'http://127.0.0.1/' }).method).toBe('POST');
  });

  it.each([
    [{ url: 'ftp://example.com/' }, 'url'],
    [{ url: 'http://user@example.com/' }, 'url'],
    [{ url: 'http://169.254.169.254/' }, 'url'],
    [{ url: 'http://localhost:3000/' }, 'url'],
    [{ url: 'http://0x7f000001/' }, 'url'],
    [{ url: 'https://example.com/', method: 'TRACE' }, 'method'],
    [{ url: 'https://example.com/', method: 'get' }, 'method'],
    [{ url: 'https://example.com/', timeoutMs: 0 }, 'timeoutMs'],
    [{ url: 'https://example.com/', timeoutMs: 600_001 }, 'timeoutMs'],
    [{ url: 'https://example.com/', body: 42 }, 'body'],
    [{ url: 'https://example.com/', method: 'GET', body: 'x' }, 'body'],
    [{ url: 'https://example.com/', headers: { 'X-A': 'a\r\nX-Injected: 1' } }, 'headers.X-A'],
    [{ url: 'https://example.com/', headers: { 'X-A': 'a\nb' } }, 'headers.X-A'],
    [{ url: 'https://example.com/', headers: { 'X-A': 'a\rb' } }, 'headers.X-A'],
    [{ url: 'https://example.com/', headers: { 'X-A': 'a\u0000b' } }, 'headers.X-A'],
    [{ url: 'https://example.com/', headers: { 'X-A\r\nEvil': 'v' } }, 'headers.X-A\r\nEvil'],
    [{ url: 'https://example.com/', headers: { 'Bad Name': 'v' } }, 'headers.Bad Name'],
    [{ url: 'https://example.com/', headers: { 'X-Big': 'v'.repeat(8193) } }, 'headers.X-Big'],
    [{ url: 'https://example.com/', headers: { 'X-A': 1 } }, 'headers.X-A'],
    [{ url: 'https://example.com/', extra: true }, ''],
  ])('refuses %j at %s', (payload, path) => {
    expect(problems(payload).map((p) => p.path)).toContain(path);
  });

  it.each([
    'Host',
    'host',
    'Content-Length',
    'Transfer-Encoding',
    'Connection',
    'Keep-Alive',
    'Upgrade',
    'TE',
    'Trailer',
    'Proxy-Authorization',
    'PROXY-CONNECTION',
    'Expect',
  ])('refuses the framing or hop-by-hop header %s', (name) => {
    expect(problems({ url: 'https://example.com/', headers: { [name]: 'x' } })).toEqual([
      { path: `headers.${name}`, message: expect.stringContaining('may not be given') },
    ]);
  });

  it('caps the number of headers', () => {
    const headers = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`X-H${i}`, 'v']));
    expect(problems({ url: 'https://example.com/', headers }).map((p) => p.path)).toEqual(['headers']);
    delete headers['X-H50'];
    expect(problems({ url: 'https://example.com/', headers })).toEqual([]);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it.each([
    [undefined, undefined],
    ['3', 3000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
    ['999999', 3_600_000],
    ['soon', undefined],
    ['-5', undefined],
  ])('reads %j as %j', (header, expected) => {
    expect(retryAfterMs(header, now)).toBe(expected);
  });
});
