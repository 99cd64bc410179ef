import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview } from '../../emulator/index.js';
import { digest } from '../../src/crypto.js';
import { FLOW_TTL_MS } from '../../src/storage/flows.js';
import { MAX_SESSIONS_PER_USER } from '../../src/storage/user-sessions.js';
import type { Browser } from '../helpers/browser.js';
import { expectPowensUsersMatchTokens, resetLinks, settled } from '../helpers/links.js';
import { expectErrorPage } from '../helpers/pages.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

/**
 * How long a session lives and how many one user may hold (docs/REFERENCE.md, "Sessions"): a
 * session that only carries pending flows ends with them, cookie and Redis key; the demo's
 * signed-in session keeps SESSION_TTL_SECONDS; past MAX_SESSIONS_PER_USER sessions of one user,
 * the one expiring first is evicted with its flows, and its callback is refused like an expired
 * flow, leaving no Powens user behind. Real Redis, the emulator over HTTP.
 */

const SESSION_TTL_SECONDS = 86_400;

/** The raw session id of a browser's session cookie (`s:<id>.<signature>`). */
function sessionIdOf(b: Browser): string {
  const cookie = decodeURIComponent([...b.cookies.values()][0] ?? '');
  const id = /^s:([^.]+)\./.exec(cookie)?.[1];
  if (id === undefined) throw new Error(`no session cookie in ${JSON.stringify([...b.cookies.keys()])}`);
  return id;
}

/** Max-Age of the session cookie the answer set (undefined: no session cookie set). */
function cookieMaxAge(setCookies: string[]): number | undefined {
  const cookie = setCookies.find((c) => c.includes('powens-bff.sid='));
  if (cookie === undefined) return undefined;
  const maxAge = /Max-Age=(\d+)/i.exec(cookie)?.[1];
  if (maxAge !== undefined) return Number(maxAge);
  const expires = /Expires=([^;]+)/i.exec(cookie)?.[1];
  return expires === undefined ? undefined : Math.round((Date.parse(expires) - Date.now()) / 1000);
}

describe('AUTH_MODE=header: sessions that only carry flows', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS) } });
  });
  afterAll(async () => {
    await stack.close();
  });
  beforeEach(async () => {
    await resetLinks(stack);
  });
  afterEach(async () => {
    await expectPowensUsersMatchTokens(stack);
  });

  const knobs = (): Stack['emulator']['emulator']['knobs'] => stack.emulator.emulator.knobs;
  const sessionKey = (b: Browser): string => `${stack.config.redis.prefix}sess:${sessionIdOf(b)}`;

  it('a /connect without a cookie leaves a session whose cookie and Redis key expire with the flow, not after SESSION_TTL_SECONDS', async () => {
    const b = stack.browser('short-lived');
    const hop = await b.get('/connect');
    expect(hop.status).toBe(302);
    const maxAge = cookieMaxAge(hop.headers.getSetCookie());
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(FLOW_TTL_MS / 1000);
    const ttl = await stack.inspect.pttl(sessionKey(b));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(FLOW_TTL_MS);
  });

  it('each new flow of the session renews the cookie and the key for another flow length', async () => {
    const b = stack.browser('two-flows');
    await startConnect(b);
    // The key is moved close to its end, as if the first flow had been started minutes ago.
    await stack.inspect.pexpire(sessionKey(b), 5_000);
    const again = await b.get('/connect');
    expect(again.status).toBe(302);
    expect(cookieMaxAge(again.headers.getSetCookie())).toBeGreaterThan(5);
    expect(await stack.inspect.pttl(sessionKey(b))).toBeGreaterThan(5_000);
    expect(await stack.inspect.pttl(sessionKey(b))).toBeLessThanOrEqual(FLOW_TTL_MS);
  });

  it('a callback after linking still works, and its session lives one flow length after it, no more', async () => {
    const b = stack.browser('linked-twice');
    const first = await completeWebview(await startConnect(b), { kind: 'connect' });
    expect((await b.get(first.href)).status).toBe(303);
    // A returning user: the webview opens with a temporary code, the callback needs no exchange.
    const second = await completeWebview(await startConnect(b), { kind: 'connect' });
    // The flow was started minutes ago: its session is close to its end when the browser comes back.
    await stack.inspect.pexpire(sessionKey(b), 5_000);
    const back = await b.get(second.href);
    expect(back.status).toBe(303);
    // The session lives on as long as the mark of the finished flow, so a reload says it went through.
    expect(cookieMaxAge(back.headers.getSetCookie())).toBeGreaterThan(5);
    const ttl = await stack.inspect.pttl(sessionKey(b));
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(FLOW_TTL_MS);
    expect((await b.get(second.href)).status).toBe(200);
  });

  it(`the session beyond ${MAX_SESSIONS_PER_USER} of one user evicts the oldest with its flows; its callback is refused and its Powens user deleted`, async () => {
    const browsers: Browser[] = [];
    const webviews: string[] = [];
    for (let i = 0; i <= MAX_SESSIONS_PER_USER; i++) {
      const b = stack.browser('many-browsers');
      webviews.push(await startConnect(b));
      browsers.push(b);
    }
    const [oldest, second] = browsers;
    if (oldest === undefined || second === undefined) throw new Error('no browsers');
    const prefix = stack.config.redis.prefix;
    const keys = [...(await stack.dump()).keys()];
    expect(keys).not.toContain(sessionKey(oldest));
    expect(keys.filter((k) => k.startsWith(`${prefix}flow:{${digest(sessionIdOf(oldest))}}`))).toEqual([]);
    expect(keys.filter((k) => k.startsWith(`${prefix}sess:`))).toHaveLength(MAX_SESSIONS_PER_USER);
    expect(await stack.inspect.zcard(`${prefix}user-sessions:{many-browsers}`)).toBe(MAX_SESSIONS_PER_USER);

    const evicted = await completeWebview(webviews[0] ?? '', { kind: 'connect' });
    const page = await oldest.get(evicted.href);
    expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
    await settled(stack);
    // The refused callback exchanged the webview's code and deleted the Powens user it created.
    expect(knobs().calls('token.access')).toBe(1);
    expect(knobs().calls('users.delete')).toBe(1);

    const kept = await completeWebview(webviews[1] ?? '', { kind: 'connect' });
    expect((await second.get(kept.href)).status).toBe(303);
  });

  it('sessions of other users are not evicted by one user’s many sessions', async () => {
    const other = stack.browser('quiet-user');
    await startConnect(other);
    for (let i = 0; i <= MAX_SESSIONS_PER_USER; i++) await startConnect(stack.browser('busy-user'));
    expect(await stack.inspect.exists(sessionKey(other))).toBe(1);
  });
});

describe('AUTH_MODE=demo: the signed-in session', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { AUTH_MODE: 'demo', SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS) } });
  });
  afterAll(async () => {
    await stack.close();
  });
  beforeEach(async () => {
    await resetLinks(stack);
  });

  async function signIn(userId: string): Promise<Browser> {
    const b = stack.browser();
    const hop = await b.request('POST', '/demo/session', {
      headers: { 'content-type': 'application/json', 'x-csrf': '1' },
      body: JSON.stringify({ userId }),
    });
    if (hop.status !== 204) throw new Error(`demo sign-in answered ${hop.status}`);
    return b;
  }
  const sessionKey = (b: Browser): string => `${stack.config.redis.prefix}sess:${sessionIdOf(b)}`;

  it('keeps SESSION_TTL_SECONDS after sign-in, and after a flow started in it', async () => {
    const b = await signIn('demo-long');
    expect(await stack.inspect.pttl(sessionKey(b))).toBeGreaterThan(FLOW_TTL_MS);
    expect(await stack.inspect.pttl(sessionKey(b))).toBeLessThanOrEqual(SESSION_TTL_SECONDS * 1000);
    await startConnect(b);
    expect(await stack.inspect.pttl(sessionKey(b))).toBeGreaterThan(FLOW_TTL_MS);
    expect((await b.get('/me/connections')).status).toBe(200);
  });

  it(`the sign-in beyond ${MAX_SESSIONS_PER_USER} of one user signs the oldest out`, async () => {
    const browsers: Browser[] = [];
    for (let i = 0; i <= MAX_SESSIONS_PER_USER; i++) browsers.push(await signIn('demo-many'));
    expect((await browsers[0]?.get('/me/connections'))?.status).toBe(401);
    expect((await browsers[1]?.get('/me/connections'))?.status).toBe(200);
  });

  it('a sign-out leaves the user’s set of sessions', async () => {
    const b = await signIn('demo-leaves');
    const set = `${stack.config.redis.prefix}user-sessions:{demo-leaves}`;
    expect(await stack.inspect.zcard(set)).toBe(1);
    const out = await b.request('DELETE', '/demo/session', { headers: { 'x-csrf': '1' } });
    expect(out.status).toBe(204);
    expect(await stack.inspect.zcard(set)).toBe(0);
  });
});
