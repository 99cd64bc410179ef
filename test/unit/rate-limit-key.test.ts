import type { Request } from 'express';
import { clientKey, INVALID_ADDRESS_KEY, ipv6Prefix64 } from '../../src/limits/rate-limit.js';

const req = (ip: string | undefined, remoteAddress = '127.0.0.1'): Pick<Request, 'ip' | 'socket'> =>
  ({ ip, socket: { remoteAddress } }) as unknown as Pick<Request, 'ip' | 'socket'>;

test('an IPv4 address is its own key', () => {
  expect(clientKey(req('203.0.113.7'))).toBe('203.0.113.7');
});

test('an IPv4-mapped IPv6 address counts as the IPv4 address', () => {
  expect(clientKey(req('::ffff:203.0.113.7'))).toBe('203.0.113.7');
  expect(clientKey(req('::FFFF:203.0.113.7'))).toBe('203.0.113.7');
});

test('IPv6 addresses count by their /64, however they are written', () => {
  const keys = ['2001:db8:1:2:3:4:5:6', '2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::', '2001:DB8:1:2::abcd%eth0'].map((ip) => clientKey(req(ip)));
  expect(new Set(keys)).toEqual(new Set(['2001:db8:1:2::/64']));
  expect(clientKey(req('2001:db8:1:3::1'))).toBe('2001:db8:1:3::/64');
});

test('the /64 of compressed forms is expanded correctly', () => {
  expect(ipv6Prefix64('::1')).toBe('0:0:0:0');
  expect(ipv6Prefix64('fe80::1:2:3:4')).toBe('fe80:0:0:0');
  expect(ipv6Prefix64('2001:db8::')).toBe('2001:db8:0:0');
  expect(ipv6Prefix64('1:2:3::7:8')).toBe('1:2:3:0');
});

test('without req.ip the socket address is used', () => {
  expect(clientKey(req(undefined, '192.0.2.9'))).toBe('192.0.2.9');
});

test('anything that is not a valid IP address shares one fixed bucket: no client string becomes a key', () => {
  const junk = ['unknown', '1.2.3.4:80', '127.1', 'x'.repeat(8035), '', '::ffff:999.1.1.1', '1.2.3.4, 5.6.7.8', 'redis:key\r\nDEL *'];
  expect(new Set(junk.map((ip) => clientKey(req(ip))))).toEqual(new Set([INVALID_ADDRESS_KEY]));
  expect(clientKey({ ip: undefined, socket: {} } as unknown as Pick<Request, 'ip' | 'socket'>)).toBe(INVALID_ADDRESS_KEY);
});
