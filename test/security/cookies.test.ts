import { SignJWT } from 'jose';
import { completeWebview, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { Browser, type Hop } from '../helpers/browser.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { startConnect, startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * The session cookie's attributes in each deployment shape, and the session id following the
 * signed-in user (no session fixation).
 */

const PUBLIC_HTTPS = 'https://bank.example.test';

let testRedis: TestRedis;
let emulator: RunningEmulator;
const stacks: Stack[] = [];

beforeAll(async () => {
  testRedis = await startTestRedis();
  emulator = await startEmulator({
    port: 0,
    clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*', `${PUBLIC_HTTPS}/callback`] }],
  });
});
afterAll(async () => {
  for (const s of stacks) await s.close();
  await emulator.close();
  await testRedis.close();
});

async function stack(env: Record<string, string> = {}): Promise<Stack> {
  const s = await startStack({ testRedis, emulator, env });
  stacks.push(s);
  return s;
}

function setCookie(hop: Hop): string {
  const all = hop.headers.getSetCookie();
  expect(all).toHaveLength(1);
  return all[0] ?? '';
}

/** The browser as the proxy sees it: requests reach the service itself over plain http. */
function behindProxy(s: Stack, userId: string, headers: Record<string, string> = {}): Browser {
  return new Browser(s.server.url, { 'x-user-id': userId, ...headers });
}

/**
 * jwt mode, for the deployments without a trusted proxy: header mode believes its header only
 * from the proxies TRUST_PROXY lists, so it cannot run without one.
 */
const JWT_SECRET = 'cookies-test-jwt-secret-0123456789abcdef';
const JWT_ENV = { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET };

/** A browser whose app gives it a JWT for `userId`, sent as Authorization: Bearer. */
async function withToken(s: Stack, userId: string, headers: Record<string, string> = {}): Promise<Browser> {
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
  return new Browser(s.server.url, { authorization: `Bearer ${token}`, ...headers });
}

/** The webview's return address (PUBLIC_URL/callback?...), as the browser would request it. */
function viaProxy(back: URL): string {
  return `${back.pathname}${back.search}`;
}

describe('over plain http (PUBLIC_URL http, local development)', () => {
  test('the session cookie is HttpOnly and SameSite=Lax, without Secure or the __Host- prefix', async () => {
    const s = await stack();
    const hop = await s.browser('alice').get('/connect');
    expect(hop.status).toBe(302);
    const cookie = setCookie(hop);
    expect(cookie).toMatch(/^powens-bff\.sid=s%3A[^;]+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    expect(cookie).not.toMatch(/Secure|Domain=/i);
  });
});

describe('PUBLIC_URL https behind a proxy that ends TLS (TRUST_PROXY set)', () => {
  test('the cookie is __Host- prefixed, Secure, HttpOnly, SameSite=Lax, and the whole flow completes', async () => {
    const s = await stack({ PUBLIC_URL: PUBLIC_HTTPS, TRUST_PROXY: 'loopback' });
    const b = behindProxy(s, 'alice', { 'x-forwarded-proto': 'https' });
    const webview = await startConnect(b, '/connect?return_to=/done');
    expect(webview).toContain(encodeURIComponent(`${PUBLIC_HTTPS}/callback`));
    const cookie = [...b.cookies.keys()];
    expect(cookie).toEqual(['__Host-powens-bff.sid']);
    const back = await completeWebview(webview, { kind: 'connect' });
    expect(back.origin).toBe(PUBLIC_HTTPS);
    const cb = await b.get(viaProxy(back));
    expect(cb.status).toBe(303);
    expect(cb.location).toMatch(/^\/done\?connection_id=\d+$/);
  });

  test('the Set-Cookie header carries every attribute (no Domain, Path=/)', async () => {
    const s = await stack({ PUBLIC_URL: PUBLIC_HTTPS, TRUST_PROXY: '127.0.0.1' });
    const hop = await behindProxy(s, 'bob', { 'x-forwarded-proto': 'https' }).get('/connect');
    expect(hop.status).toBe(302);
    expect(setCookie(hop)).toMatch(/^__Host-powens-bff\.sid=s%3A[^;]+; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/);
  });

  test('a client that is not the trusted proxy cannot claim https with X-Forwarded-Proto', async () => {
    // The proxy is 10.0.0.0/8; this request comes straight from 127.0.0.1 with a forged header.
    const s = await stack({ PUBLIC_URL: PUBLIC_HTTPS, TRUST_PROXY: '10.0.0.0/8', ...JWT_ENV });
    const hop = await (await withToken(s, 'carol', { 'x-forwarded-proto': 'https' })).get('/connect');
    expect(hop.status).toBe(302);
    // Plain http as far as we can tell: a Secure cookie is not sent over it.
    expect(hop.headers.getSetCookie()).toEqual([]);
  });
});

describe('PUBLIC_URL https reached over plain http without TRUST_PROXY (a misconfiguration)', () => {
  test('no cookie is set, and the callback shows the SESSION_COOKIE_MISSING page that names the cause', async () => {
    const s = await stack({ PUBLIC_URL: PUBLIC_HTTPS, TRUST_PROXY: 'false', ...JWT_ENV });
    const b = await withToken(s, 'dave', { 'x-forwarded-proto': 'https' });
    const hop = await b.get('/connect');
    expect(hop.status).toBe(302);
    // express-session refuses to send a Secure cookie over what it sees as http.
    expect(hop.headers.getSetCookie()).toEqual([]);
    const back = await completeWebview(hop.location ?? '', { kind: 'connect' });
    const cb = await b.get(viaProxy(back));
    expect(cb.status).toBe(400);
    expect(cb.headers.get('content-type')).toMatch(/^text\/html/);
    expect(cb.text).toContain('Session cookie not sent back');
    expect(cb.text).toContain('TRUST_PROXY');
    const line = s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.errorCode === 'SESSION_COOKIE_MISSING' && 'detail' in l);
    expect(line?.detail).toMatchObject({ secureCookies: true, protocolSeen: 'http' });
    // The code was not exchanged: nothing stored.
    expect([...(await s.dump()).keys()].filter((k) => k.includes(':token:'))).toEqual([]);
  });
});

describe('session fixation: the session id follows the signed-in user', () => {
  function sid(b: Browser): string {
    const value = b.cookies.get('powens-bff.sid');
    if (value === undefined) throw new Error('no session cookie');
    return decodeURIComponent(value).replace(/^s:/, '').split('.')[0] ?? '';
  }

  test('header mode: another user in the same browser gets a new session id, and the first user’s flows are unusable', async () => {
    const s = await stack();
    const a = s.browser('user-a');
    const webviewA = await startConnect(a, '/connect');
    const sidA = sid(a);
    const backA = await completeWebview(webviewA, { kind: 'connect' });

    // Same cookie jar, now signed in as user B (the proxy sends another id).
    const b = new Browser(s.url, { 'x-user-id': 'user-b' });
    for (const [k, v] of a.cookies) b.cookies.set(k, v);
    await startConnect(b, '/connect');
    const sidB = sid(b);
    expect(sidB).not.toBe(sidA);
    const keys = [...(await s.dump()).keys()];
    expect(keys).not.toContain(`${s.config.redis.prefix}sess:${sidA}`);
    expect(keys).toContain(`${s.config.redis.prefix}sess:${sidB}`);

    // User B finishing user A's webview: refused, and nothing is stored for anyone.
    const cb = await b.get(backA.href);
    expect(cb.status).toBe(400);
    expect(cb.text).toContain('Link expired or already used');
    expect(keys.filter((k) => k.includes(':token:'))).toEqual([]);
    expect([...(await s.dump()).keys()].filter((k) => k.includes(':token:'))).toEqual([]);

    // The old session cookie is dead too: replaying it as user A does not revive A's flow.
    const replayA = new Browser(s.url, { 'x-user-id': 'user-a' });
    for (const [k, v] of a.cookies) replayA.cookies.set(k, v);
    const again = await replayA.get(backA.href);
    expect(again.status).toBe(400);
    expect(again.text).toContain('Link expired or already used');
  });

  test('the same user keeps the same session id across flows', async () => {
    const s = await stack();
    const a = s.browser('steady');
    await startConnect(a, '/connect');
    const first = sid(a);
    await startConnect(a, '/connect');
    expect(sid(a)).toBe(first);
  });

  test('demo mode: every sign-in gets a new session id, and the previous user’s flows are gone', async () => {
    const s = await stack({ AUTH_MODE: 'demo' });
    const b = s.browser();
    const signIn = async (userId: string): Promise<string> => {
      const r = await b.request('POST', '/demo/session', {
        headers: { 'content-type': 'application/json', 'x-csrf': '1' },
        body: JSON.stringify({ userId }),
      });
      expect(r.status).toBe(204);
      return sid(b);
    };
    // An attacker's own session id planted in the victim's browser ...
    const planted = await signIn('attacker');
    const webview = await startConnect(b, '/connect');
    const back = await completeWebview(webview, { kind: 'connect' });
    // ... is replaced when the victim signs in, so the attacker cannot ride the victim's session.
    const victim = await signIn('victim');
    expect(victim).not.toBe(planted);
    expect(await signIn('victim')).not.toBe(victim);
    expect((await s.dump()).has(`${s.config.redis.prefix}sess:${planted}`)).toBe(false);
    const cb = await b.get(back.href);
    expect(cb.status).toBe(400);
    expect([...(await s.dump()).keys()].filter((k) => k.includes(':token:'))).toEqual([]);
  });
});
