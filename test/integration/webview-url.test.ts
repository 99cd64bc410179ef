import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectBank } from '../helpers/api.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * The webview URL of docs/REFERENCE.md ("GET /connect"): `${POWENS_WEBVIEW_URL}/{lang}/{flow}` with
 * exactly the parameters each flow needs; the language segment always present, from
 * POWENS_WEBVIEW_LANG, else the browser's Accept-Language among Powens' languages, else `en`.
 */

let testRedis: TestRedis;
let stack: Stack;
let fixedLang: Stack;
beforeAll(async () => {
  testRedis = await startTestRedis();
  stack = await startStack({ testRedis });
  fixedLang = await startStack({ testRedis, emulator: stack.emulator, env: { POWENS_WEBVIEW_LANG: 'es' } });
});
afterAll(async () => {
  await fixedLang.close();
  await stack.close();
  await testRedis.close();
});

let n = 0;
/** The webview URL /connect sends a new user to, with these request headers. */
async function webviewFor(s: Stack, headers: Record<string, string> = {}): Promise<URL> {
  n += 1;
  return new URL(await startConnect(s.browser(`webview-url-${n}`, headers)));
}

describe('the language segment', () => {
  it.each([
    ['no Accept-Language', 'en', undefined],
    ['a regional variant of an offered language', 'fr', 'fr-CH, fr;q=0.9, en;q=0.8'],
    ['the best-ranked offered language, not the first listed', 'de', 'ja, en;q=0.3, de;q=0.5'],
    ['no offered language at all', 'en', 'ja, zh-CN;q=0.8'],
    ['an offered language refused with q=0', 'it', 'nl;q=0, it;q=0.2'],
    ['a wildcard only', 'en', '*'],
  ])('with %s is %s', async (_what, lang, acceptLanguage) => {
    const url = await webviewFor(stack, acceptLanguage === undefined ? {} : { 'accept-language': acceptLanguage });
    expect(`${url.origin}${url.pathname}`).toBe(`${stack.emulator.url}/${lang}/connect`);
  });

  it('is POWENS_WEBVIEW_LANG when set, whatever the browser asks for', async () => {
    const url = await webviewFor(fixedLang, { 'accept-language': 'fr-FR, fr;q=0.9' });
    expect(`${url.origin}${url.pathname}`).toBe(`${fixedLang.emulator.url}/es/connect`);
  });
});

describe('the parameters, exactly', () => {
  const names = (url: URL): string[] => [...new Set(url.searchParams.keys())].sort();

  it('of a first connection are domain, client_id, redirect_uri and state: no code', async () => {
    expect(names(await webviewFor(stack))).toEqual(['client_id', 'domain', 'redirect_uri', 'state']);
  });

  it('of a returning user add the temporary code; reconnect adds connection_id; manage has no connection_id', async () => {
    const b = stack.browser('webview-url-returning');
    const id = await connectBank(b);
    expect(names(new URL(await startConnect(b)))).toEqual(['client_id', 'code', 'domain', 'redirect_uri', 'state']);
    const reconnect = new URL(await startConnect(b, `/reconnect/${id}`));
    expect(names(reconnect)).toEqual(['client_id', 'code', 'connection_id', 'domain', 'redirect_uri', 'state']);
    expect(reconnect.pathname).toBe('/en/reconnect');
    const manage = new URL(await startConnect(b, '/manage'));
    expect(names(manage)).toEqual(['client_id', 'code', 'domain', 'redirect_uri', 'state']);
    expect(manage.pathname).toBe('/en/manage');
    for (const url of [reconnect, manage]) expect(url.searchParams.getAll('code')).toHaveLength(1);
  });
});
