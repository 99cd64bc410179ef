import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { DEMO_JS } from '../../src/web/demo-script.js';
import type { Hop } from '../helpers/browser.js';
import { Browser } from '../helpers/browser.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * Security headers on every kind of response: pages, the flow redirects, the error page, the
 * JSON API and its problem+json errors, in each deployment shape.
 */

let testRedis: TestRedis;
let emulator: RunningEmulator;
let http: Stack;
let https: Stack;
let demo: Stack;

beforeAll(async () => {
  testRedis = await startTestRedis();
  emulator = await startEmulator({
    port: 0,
    clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*', 'https://bank.example.test/callback'] }],
  });
  http = await startStack({ testRedis, emulator });
  https = await startStack({ testRedis, emulator, env: { PUBLIC_URL: 'https://bank.example.test', TRUST_PROXY: 'loopback' } });
  demo = await startStack({ testRedis, emulator, env: { AUTH_MODE: 'demo' } });
});
afterAll(async () => {
  await http.close();
  await https.close();
  await demo.close();
  await emulator.close();
  await testRedis.close();
});

function csp(hop: Hop): Map<string, string[]> {
  const header = hop.headers.get('content-security-policy') ?? '';
  const out = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name !== undefined && name !== '') out.set(name, values);
  }
  return out;
}

/** What every response of the service carries, whatever its kind. */
function expectBaseline(hop: Hop, opts: { https: boolean }): void {
  const policy = csp(hop);
  expect(policy.get('default-src')).toEqual(["'self'"]);
  expect(policy.get('script-src')).toEqual(["'self'"]);
  expect(policy.get('style-src')).toEqual(["'self'"]);
  expect(policy.get('object-src')).toEqual(["'none'"]);
  expect(policy.get('base-uri')).toEqual(["'none'"]);
  expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
  expect(policy.get('form-action')).toEqual(["'self'"]);
  expect(hop.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
  expect(policy.has('upgrade-insecure-requests')).toBe(opts.https);
  expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
  expect(hop.headers.get('x-content-type-options')).toBe('nosniff');
  expect(hop.headers.get('x-frame-options')).toBe('DENY');
  expect(hop.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(hop.headers.get('x-powered-by')).toBeNull();
  if (opts.https) {
    const hsts = hop.headers.get('strict-transport-security') ?? '';
    expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(31536000);
    expect(hsts).toContain('includeSubDomains');
  } else {
    expect(hop.headers.get('strict-transport-security')).toBeNull();
  }
}

/** Pages work under the CSP above: no inline script, style or event handler. */
function expectNoInline(html: string): void {
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
  expect(html).not.toMatch(/<style\b/i);
  expect(html).not.toMatch(/\sstyle\s*=/i);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/javascript:/i);
}

function page(hop: Hop): void {
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  expect(hop.headers.get('cache-control')).toBe('no-store');
  expectNoInline(hop.text);
}

describe.each([
  ['http', () => http, false],
  ['https behind a proxy', () => https, true],
] as const)('over %s', (_name, get, isHttps) => {
  const browser = (userId?: string): Browser => {
    const s = get();
    const headers: Record<string, string> = isHttps ? { 'x-forwarded-proto': 'https' } : {};
    if (userId !== undefined) headers['x-user-id'] = userId;
    return new Browser(s.server.url, headers);
  };

  test('the landing page', async () => {
    const hop = await browser().get('/');
    expect(hop.status).toBe(200);
    expectBaseline(hop, { https: isHttps });
    page(hop);
  });

  test('the /connect redirect to the webview', async () => {
    const hop = await browser('alice').get('/connect');
    expect(hop.status).toBe(302);
    expectBaseline(hop, { https: isHttps });
    expect(hop.headers.get('cache-control')).toBe('no-store');
  });

  test('the error page of a failed callback', async () => {
    const hop = await browser('alice').get('/callback?state=forged&code=x');
    expect(hop.status).toBe(400);
    expectBaseline(hop, { https: isHttps });
    page(hop);
  });

  test('the 401 page of a flow route without a user', async () => {
    const hop = await browser().get('/connect');
    expect(hop.status).toBe(401);
    expectBaseline(hop, { https: isHttps });
    page(hop);
  });

  test('the JSON API', async () => {
    const hop = await browser('alice').get('/me/connections');
    expect(hop.status).toBe(200);
    expect(hop.headers.get('content-type')).toMatch(/^application\/json/);
    expect(hop.headers.get('cache-control')).toBe('no-store');
    expectBaseline(hop, { https: isHttps });
  });

  test('problem+json errors of the API', async () => {
    const noUser = await browser().get('/me/connections');
    expect(noUser.status).toBe(401);
    expect(noUser.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(noUser.headers.get('cache-control')).toBe('no-store');
    expectBaseline(noUser, { https: isHttps });
    const noCsrf = await browser('alice').request('DELETE', '/me/connections');
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expectBaseline(noCsrf, { https: isHttps });
  });

  test('the health and static routes', async () => {
    for (const path of ['/healthz', '/assets/app.css', '/assets/demo.js', '/no-such-page']) {
      const hop = await browser().get(path);
      expect(hop.status).toBeLessThan(500);
      expectBaseline(hop, { https: isHttps });
    }
  });
});

describe('demo mode pages', () => {
  test('the sign-in page, the home page and its script carry the same policy and no inline code', async () => {
    const b = demo.browser();
    const signIn = await b.get('/demo/sign-in');
    expect(signIn.status).toBe(200);
    expectBaseline(signIn, { https: false });
    page(signIn);
    expect(signIn.text).toContain('<script type="module" src="/assets/demo.js"></script>');

    const session = await b.request('POST', '/demo/session', {
      headers: { 'content-type': 'application/json', 'x-csrf': '1' },
      body: JSON.stringify({ userId: 'demo-user' }),
    });
    expect(session.status).toBe(204);
    expectBaseline(session, { https: false });
    const home = await b.get('/');
    expect(home.status).toBe(200);
    expectBaseline(home, { https: false });
    page(home);

    const script = await b.get('/assets/demo.js');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expectBaseline(script, { https: false });
  });

  test('the demo script builds the page from API data with text only, never markup', () => {
    expect(DEMO_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(DEMO_JS).toContain('createTextNode');
  });
});
