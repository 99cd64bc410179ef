import { describe, expect, it } from '@jest/globals';
import { safeReturnTo, withQuery } from '../../src/http/return-to.js';

const ORIGIN = 'https://bank.example.com';

/** Where a browser on this service would land after `Location: <path>`. */
function landsOn(path: string): URL {
  return new URL(path, `${ORIGIN}/callback`);
}

describe('safeReturnTo', () => {
  it.each([
    ['/', '/'],
    ['/account', '/account'],
    ['/account/banks?tab=linked#top', '/account/banks?tab=linked#top'],
    ['/a/../b', '/b'],
  ])('keeps the path %s of this origin', (value, expected) => {
    expect(safeReturnTo(value)).toBe(expected);
  });

  it.each([
    ['a protocol-relative URL', '//evil.example'],
    ['a protocol-relative URL with a path', '//evil.example/path?x=1'],
    ['an absolute URL', 'https://evil.example'],
    ['an absolute URL on plain http', 'http://evil.example/'],
    ['a backslash after the slash', '/\\evil.example'],
    ['two backslashes', '\\\\evil.example'],
    ['a backslash inside the path', '/ok\\..\\..\\evil.example'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['a relative path without a slash', 'evil.example'],
    ['a CR/LF header split', '/ok\r\nSet-Cookie: a=b'],
    ['a lone LF', '/ok\nLocation: https://evil.example'],
    ['a tab (stripped by URL parsers into //)', '/\t/evil.example'],
    ['a NUL byte', '/ok\u0000'],
    ['a DEL character', '/ok\u007f'],
    ['a dot segment that normalises to //', '/.//evil.example'],
    ['a parent segment that normalises to //', '/a/..//evil.example'],
    ['an encoded dot segment that normalises to //', '/%2e//evil.example'],
    ['encoded parent segments that normalise to //', '/%2E%2E//evil.example'],
    ['the empty string', ''],
    ['no value', undefined],
  ])('falls back to / for %s', (_name, value) => {
    expect(safeReturnTo(value)).toBe('/');
  });

  it('falls back to / for a very long value', () => {
    expect(safeReturnTo(`/${'a'.repeat(5000)}`)).toBe('/');
    expect(safeReturnTo(`/${'a'.repeat(100_000)}`)).toBe('/');
  });

  it('keeps a long but reasonable path', () => {
    const path = `/${'a'.repeat(1000)}`;
    expect(safeReturnTo(path)).toBe(path);
  });

  it.each(['/%2F%2Fevil.example', '/%5Cevil', '/%5C%5Cevil.example', '/..%2F/evil', '/%0d%0aSet-Cookie:x', '/%09/evil.example'])(
    'keeps the encoded variant %s on this origin, still encoded',
    (value) => {
      const result = safeReturnTo(value);
      expect(result.startsWith('/')).toBe(true);
      expect(result.startsWith('//')).toBe(false);
      expect(result.startsWith('/\\')).toBe(false);
      expect(result).not.toMatch(/[\r\n\t\\]/);
      expect(landsOn(result).origin).toBe(ORIGIN);
    },
  );

  it('never returns a value that a browser would resolve to another origin', () => {
    const tricky = [
      '//evil.example',
      '/\\evil.example',
      '/.//evil.example',
      '/./\\evil.example',
      '/a/b/../..//evil.example',
      '/%2e%2e/%2e%2e//evil.example',
      '/\u3000/evil.example',
      '/\uff0f/evil.example',
      '/@evil.example',
      '/:@evil.example',
    ];
    for (const value of tricky) {
      const result = safeReturnTo(value);
      expect(result.startsWith('//')).toBe(false);
      expect(landsOn(result).origin).toBe(ORIGIN);
    }
  });

  it('percent-encodes characters that could break out of an HTML attribute or a header', () => {
    const result = safeReturnTo('/x?a="><script>alert(1)</script>');
    expect(result).not.toMatch(/[<>"]/);
    expect(landsOn(result).origin).toBe(ORIGIN);
  });
});

describe('withQuery', () => {
  it('adds a parameter to a path without a query', () => {
    expect(withQuery('/done', 'connection_id', '42')).toBe('/done?connection_id=42');
  });

  it('adds a parameter to a path that has a query and a fragment', () => {
    expect(withQuery('/done?tab=1#top', 'connection_id', '42')).toBe('/done?tab=1&connection_id=42#top');
  });

  it('encodes the value', () => {
    expect(withQuery('/connect', 'return_to', '/a?b=c&d=e')).toBe('/connect?return_to=%2Fa%3Fb%3Dc%26d%3De');
  });
});
