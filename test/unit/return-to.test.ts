import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkReturnTo, defaultLanding, safeReturnTo, withQuery } from '../../src/http/return-to.js';

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

const APP = 'https://app.example.com';
const DEV = 'http://app.localhost:5173';
const ORIGINS = [APP, DEV];

describe('safeReturnTo with RETURN_TO_ORIGINS', () => {
  it.each([
    ['a page of the app', `${APP}/banks`, `${APP}/banks`],
    ['the app with a query and a fragment', `${APP}/banks?tab=1#list`, `${APP}/banks?tab=1#list`],
    ['the app without a path', APP, `${APP}/`],
    ['the scheme and host in capitals (normalised)', 'HTTPS://APP.EXAMPLE.COM/x', `${APP}/x`],
    ['the default port written out (normalised)', 'https://app.example.com:443/x', `${APP}/x`],
    ['a percent-encoded letter in the host (normalised)', 'https://%61pp.example.com/x', `${APP}/x`],
    ['a listed http origin for local development', `${DEV}/done`, `${DEV}/done`],
    ['a path of this service, still', '/settings', '/settings'],
  ])('keeps %s', (_name, value, expected) => {
    expect(checkReturnTo(value, ORIGINS)).toBe(expected);
  });

  it.each([
    ['another origin', 'https://evil.example/'],
    ['user info that names the app', 'https://app.example.com@evil.example/'],
    ['user info and a password', 'https://app.example.com:443@evil.example/'],
    ['a user name on the app', 'https://someone@app.example.com/'],
    ['a look-alike sub-domain', 'https://app.example.com.evil.example/'],
    ['a look-alike host', 'https://app-example.com/'],
    ['a look-alike prefix', 'https://evilapp.example.com/'],
    ['another top-level domain', 'https://app.example.co/'],
    ['a trailing dot', 'https://app.example.com./'],
    ['another port', 'https://app.example.com:8443/'],
    ['plain http for an https origin', 'http://app.example.com/'],
    ['https for an http origin', 'https://app.localhost:5173/'],
    ['a Cyrillic look-alike (IDN)', 'https://аpp.example.com/'],
    ['its punycode', 'https://xn--pp-8kc.example.com/'],
    ['a full-width dot', 'https://app\uff0eexample.com/'],
    ['a soft hyphen a parser would drop', 'https://ap\u00adp.example.com/'],
    ['an encoded slash before user info', 'https://app.example.com%2F@evil.example/'],
    ['an encoded URL', 'https%3A%2F%2Fapp.example.com%2F'],
    ['a backslash for the slashes', 'https:\\\\app.example.com/'],
    ['a backslash before user info', 'https://app.example.com\\@evil.example/'],
    ['a backslash in the path', 'https://app.example.com/a\\b'],
    ['a leading space', ' https://app.example.com/'],
    ['a tab inside the host', 'https://app.example\t.com/'],
    ['a CR LF in the path', 'https://app.example.com/x\r\nSet-Cookie: a=b'],
    ['a NUL byte', 'https://app.example.com/\u0000'],
    ['a space in the path', 'https://app.example.com/a b'],
    ['a protocol-relative URL to the app', '//app.example.com/'],
    ['the scheme without slashes', 'https:app.example.com/'],
    ['the scheme with one slash', 'https:/app.example.com/'],
    ['the scheme with three slashes', 'https:///app.example.com/'],
    ['a javascript: URL', 'javascript:alert(1)//https://app.example.com/'],
    ['a data: URL', 'data:text/html,https://app.example.com/'],
    ['an ftp URL', 'ftp://app.example.com/'],
    ['a very long URL', `${APP}/${'a'.repeat(3000)}`],
  ])('refuses %s', (_name, value) => {
    expect(checkReturnTo(value, ORIGINS)).toBeUndefined();
    expect(safeReturnTo(value, ORIGINS)).toBe(`${APP}/`);
  });

  it('refuses every absolute URL when no origin is listed', () => {
    expect(checkReturnTo(`${APP}/banks`, [])).toBeUndefined();
    expect(safeReturnTo(`${APP}/banks`)).toBe('/');
  });

  it('lands on the first origin by default, else on / of this service', () => {
    expect(defaultLanding(ORIGINS)).toBe(`${APP}/`);
    expect(defaultLanding([])).toBe('/');
    expect(safeReturnTo(undefined, ORIGINS)).toBe(`${APP}/`);
  });

  it('never answers anything but a path of this origin or a URL on a listed origin, whatever the input', () => {
    const printable = fc.string({ unit: 'binary', maxLength: 80 });
    const around = fc.tuple(
      fc.constantFrom('', 'https://', 'http://', '//', '/', 'HTTPS://', 'https:'),
      fc.constantFrom('', 'app.example.com', 'evil.example', 'app.localhost:5173'),
      printable,
    );
    fc.assert(
      fc.property(
        fc.oneof(
          printable,
          around.map(([a, b, c]) => `${a}${b}${c}`),
        ),
        (value) => {
          const result = safeReturnTo(value, ORIGINS);
          const lands = new URL(result, `${ORIGIN}/callback`);
          expect(lands.origin === ORIGIN || ORIGINS.includes(lands.origin)).toBe(true);
          expect(result).not.toMatch(/[\u0000-\u001f\u007f\\]/);
          if (!result.startsWith('/')) expect(new URL(result).href).toBe(result);
          else expect(result.startsWith('//')).toBe(false);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('withQuery', () => {
  it('adds a parameter to an absolute URL of the app', () => {
    expect(withQuery('https://app.example.com/banks?tab=1#list', 'connection_id', '42')).toBe('https://app.example.com/banks?tab=1&connection_id=42#list');
  });

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
