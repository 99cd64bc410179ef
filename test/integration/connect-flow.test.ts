import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview, type WebviewAction } from '../../emulator/index.js';
import type { Browser } from '../helpers/browser.js';
import { expectErrorPage, pageLinks, logEntries, storedFor } from '../helpers/pages.js';
import { startConnect, startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * The connect flow of docs/REFERENCE.md ("Browser routes"), end to end: the real app on a real port, a real
 * redis-server, the emulator over HTTP, and a cookie-jar browser.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});
beforeEach(() => {
  stack.emulator.emulator.knobs.resetAll();
});

const knobs = (): Stack['emulator']['emulator']['knobs'] => stack.emulator.emulator.knobs;
const emulatorState = (): Stack['emulator']['emulator']['state'] => stack.emulator.emulator.state;

/** The token the service stored for a user, opened with the service's own keys. */
async function storedToken(userId: string): Promise<string | undefined> {
  return (await stack.built.tokens.get(userId))?.token;
}

/** The Powens user id behind a connection id, at the emulator. */
function powensUserOf(connectionId: number): number | undefined {
  return emulatorState().connection(connectionId)?.id_user;
}

/** One flow through the webview: the webview URL and the callback URL, whose answer must be `status`. */
async function throughWebview(b: Browser, action: WebviewAction, status: number): Promise<{ webview: URL; back: URL }> {
  const webview = new URL(await startConnect(b));
  const back = await completeWebview(webview.href, action);
  expect((await b.get(back.href)).status).toBe(status);
  return { webview, back };
}

function connectionIdOf(location: string | undefined): number {
  return Number(new URL(location ?? '', stack.url).searchParams.get('connection_id'));
}

/** A first connection of `userId` through the whole flow; its connection id and stored token. */
async function link(userId: string): Promise<{ b: Browser; connectionId: number; token: string }> {
  const b = stack.browser(userId);
  const back = await completeWebview(await startConnect(b), { kind: 'connect' });
  const cb = await b.get(back.href);
  expect(cb.status).toBe(303);
  const token = await storedToken(userId);
  expect(token).toEqual(expect.any(String));
  return { b, connectionId: connectionIdOf(cb.location), token: token ?? '' };
}

describe('a first connection', () => {
  it('opens the webview without a code, then exchanges the callback code server-side and stores the token', async () => {
    const b = stack.browser('first-user');
    const start = await b.get('/connect');
    expect(start.status).toBe(302);
    expect(start.headers.get('cache-control')).toBe('no-store');
    expect(start.headers.get('referrer-policy')).toBe('no-referrer');
    const webview = new URL(start.location ?? '');
    expect(`${webview.origin}${webview.pathname}`).toBe(`${stack.emulator.url}/en/connect`);
    expect(webview.searchParams.get('domain')).toBe('demo-sandbox.biapi.pro');
    expect(webview.searchParams.get('client_id')).toBe(TEST_CLIENT_ID);
    expect(webview.searchParams.get('redirect_uri')).toBe(`${stack.url}/callback`);
    expect(webview.searchParams.has('code')).toBe(false);
    // At least 128 random bits, base64url.
    expect(webview.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(webview.href).not.toContain(TEST_CLIENT_SECRET);

    const back = await completeWebview(webview.href, { kind: 'connect' });
    expect(back.searchParams.get('code')).toEqual(expect.any(String));
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    expect(cb.headers.get('cache-control')).toBe('no-store');
    expect(cb.headers.get('referrer-policy')).toBe('no-referrer');
    const connectionId = Number(back.searchParams.get('connection_id'));
    expect(cb.location).toBe(`/?connection_id=${connectionId}`);

    expect(knobs().calls('token.access')).toBe(1);
    const token = await storedToken('first-user');
    expect(token).toEqual(expect.any(String));
    const owner = emulatorState().findUserByToken(token ?? '');
    expect(owner?.connectionIds).toEqual([connectionId]);
  });
});

describe('a second connection', () => {
  it('opens the webview with a temporary code and joins the same Powens user, without a code exchange', async () => {
    const first = await link('returning-user');
    const b = first.b;
    const tokenBefore = first.token;
    knobs().reset();

    const webview = new URL(await startConnect(b));
    expect(webview.searchParams.get('code')).toEqual(expect.any(String));
    expect(knobs().calls('token.code')).toBe(1);
    const back = await completeWebview(webview.href, { kind: 'connect' });
    expect(back.searchParams.has('code')).toBe(false);
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    const second = connectionIdOf(cb.location);

    expect(knobs().calls('token.access')).toBe(0);
    expect(emulatorState().users()).toHaveLength(1);
    expect(powensUserOf(second)).toBe(powensUserOf(first.connectionId));
    expect(await storedToken('returning-user')).toBe(tokenBefore);
    expect(emulatorState().findUserByToken(tokenBefore ?? '')?.connectionIds).toEqual([first.connectionId, second]);
  });

  it('drops a stored token that Powens refuses (401) and starts over as a first connection', async () => {
    const first = await link('stale-user');
    const b = first.b;
    const staleToken = first.token;
    knobs().fail('token.code', { status: 401, times: 1 });

    const webview = new URL(await startConnect(b));
    expect(webview.searchParams.has('code')).toBe(false);
    expect(await storedFor(stack, 'stale-user')).toEqual([]);

    const back = await completeWebview(webview.href, { kind: 'connect' });
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    const fresh = await storedToken('stale-user');
    expect(fresh).toEqual(expect.any(String));
    expect(fresh).not.toBe(staleToken);
    expect(powensUserOf(connectionIdOf(cb.location))).not.toBe(powensUserOf(first.connectionId));
  });

  it('tells a user whose only token Powens refuses that there is nothing to manage', async () => {
    const { b } = await link('stale-manager');
    knobs().fail('token.code', { status: 401, times: 1 });
    const hop = await b.get('/manage');
    expectErrorPage(stack, hop, { status: 409, errorCode: 'NOT_LINKED', retry: '/connect' });
    expect(await storedFor(stack, 'stale-manager')).toEqual([]);
  });
});

describe('two tabs', () => {
  it.each([
    ['in the order they were started', [0, 1]],
    ['in the reverse order', [1, 0]],
  ] as const)(
    'of a user with no token, finished %s: the first to finish is kept, the other Powens user is deleted and the page says to try again',
    async (_order, [winner, loser]) => {
      const userId = `two-tabs-${winner}`;
      const b = stack.browser(userId);
      // Both flows start before either finishes: both webviews create a Powens user.
      const tabs = [await startConnect(b), await startConnect(b)];
      for (const tab of tabs) expect(new URL(tab).searchParams.has('code')).toBe(false);
      const backs = [await completeWebview(tabs[0] ?? '', { kind: 'connect' }), await completeWebview(tabs[1] ?? '', { kind: 'connect' })];
      expect(emulatorState().users()).toHaveLength(2);
      const winnerBack = backs[winner] as URL;
      const loserBack = backs[loser] as URL;
      const winnerPowensUser = powensUserOf(Number(winnerBack.searchParams.get('connection_id')));

      const first = await b.get(winnerBack.href);
      expect(first.status).toBe(303);
      const tokenAfterFirst = await storedToken(userId);

      const second = await b.get(loserBack.href);
      expectErrorPage(stack, second, { status: 400, errorCode: 'LINK_RACE', retry: '/connect' });
      expect(second.text).toContain('Please try again.');

      // The token of the tab that finished first was not overwritten.
      expect(await storedToken(userId)).toBe(tokenAfterFirst);
      expect(emulatorState().findUserByToken(tokenAfterFirst ?? '')?.id).toBe(winnerPowensUser);
      // The duplicate Powens user is gone at Powens, with its connection.
      expect(
        emulatorState()
          .users()
          .map((u) => u.id),
      ).toEqual([winnerPowensUser]);
      expect(knobs().calls('users.delete')).toBe(1);
    },
  );

  it.each([
    ['in the order they were started', [0, 1]],
    ['in the reverse order', [1, 0]],
  ] as const)('of a user with a token, finished %s: both connections join the same Powens user', async (_order, [a, c]) => {
    const userId = `two-tabs-linked-${a}`;
    const first = await link(userId);
    const b = first.b;
    const token = first.token;
    const tabs = [await startConnect(b), await startConnect(b)];
    const backs = [await completeWebview(tabs[0] ?? '', { kind: 'connect' }), await completeWebview(tabs[1] ?? '', { kind: 'connect' })];
    expect((await b.get((backs[a] as URL).href)).status).toBe(303);
    expect((await b.get((backs[c] as URL).href)).status).toBe(303);
    expect(await storedToken(userId)).toBe(token);
    expect(emulatorState().users()).toHaveLength(1);
    expect(emulatorState().findUserByToken(token ?? '')?.connectionIds).toHaveLength(3);
    expect(powensUserOf(first.connectionId)).toBe(emulatorState().users()[0]?.id);
  });
});

describe('return_to', () => {
  it.each(['//evil.example', 'https://evil.example', '/\\evil.example', 'javascript:alert(1)', '/.//evil.example', '%2F%2Fevil.example'])(
    'falls back to / for %s',
    async (value) => {
      const b = stack.browser(`return-to-${value}`);
      const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent(value)}`), { kind: 'connect' });
      const cb = await b.get(back.href);
      expect(cb.status).toBe(303);
      expect(cb.location).toBe(`/?connection_id=${back.searchParams.get('connection_id') ?? ''}`);
    },
  );

  it('keeps a path of this origin, with its query, and adds the connection id', async () => {
    const b = stack.browser('return-to-good');
    const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent('/account/banks?tab=linked')}`), {
      kind: 'connect',
    });
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    expect(cb.location).toBe(`/account/banks?tab=linked&connection_id=${back.searchParams.get('connection_id') ?? ''}`);
  });

  it('makes the try-again link of a failed flow start over with the same safe return path', async () => {
    const b = stack.browser('return-to-retry');
    const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent('/account?a=1&b=2')}`), { kind: 'cancel' });
    const page = await b.get(back.href);
    expectErrorPage(stack, page, {
      status: 400,
      errorCode: 'FLOW_CANCELLED',
      retry: `/connect?return_to=${encodeURIComponent('/account?a=1&b=2')}`,
      back: '/account?a=1&b=2',
    });
  });

  it('escapes a return path with markup on the error page', async () => {
    const b = stack.browser('return-to-markup');
    const evil = '/x?"><script>alert(1)</script>';
    const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent(evil)}`), { kind: 'cancel' });
    const page = await b.get(back.href);
    expect(page.status).toBe(400);
    expect(page.text).not.toContain('<script>alert(1)');
    expect(page.text).not.toContain('"><script');
    // Both links carry it as an attribute value, encoded: nothing of it closes the attribute.
    expect(pageLinks(page).back).toBe('/x?%22%3E%3Cscript%3Ealert(1)%3C/script%3E');
  });
});

describe('what is kept and what is logged', () => {
  it('leaves no token, code, state or client secret in clear in any Redis key or value', async () => {
    const b = stack.browser('redis-reader');
    const { webview: w1, back: back1 } = await throughWebview(b, { kind: 'connect' }, 303);
    const { webview: w2 } = await throughWebview(b, { kind: 'connect' }, 303);

    const token = await storedToken('redis-reader');
    // The token is the real one: the emulator knows it.
    expect(emulatorState().findUserByToken(token ?? '')).toBeDefined();
    const secrets = [
      token ?? '',
      back1.searchParams.get('code') ?? '',
      w1.searchParams.get('state') ?? '',
      w2.searchParams.get('state') ?? '',
      w2.searchParams.get('code') ?? '',
      TEST_CLIENT_SECRET,
    ];
    for (const s of secrets) expect(s.length).toBeGreaterThan(10);

    const dump = await stack.dump();
    expect(dump.size).toBeGreaterThan(0);
    const all = await stack.inspect.keys('*');
    for (const key of all) expect(key.startsWith(stack.config.redis.prefix)).toBe(true);
    for (const [key, value] of dump) {
      for (const s of secrets) {
        expect(key).not.toContain(s);
        expect(value).not.toContain(s);
        expect(value).not.toContain(Buffer.from(s).toString('base64'));
      }
    }
    // The token record is there, sealed under the first key, named by its key id.
    const record = [...dump].find(([k]) => k.startsWith(`${stack.config.redis.prefix}token:`) && k.endsWith('redis-reader'));
    expect(record?.[1]).toMatch(/^v1\.k1\./);
  });

  it('logs no client secret, token, code, state or cookie value over whole flows, failures included', async () => {
    const from = stack.logs.length;
    const b = stack.browser('log-reader');
    const { webview: w1, back: back1 } = await throughWebview(b, { kind: 'connect' }, 303);
    const { webview: w2 } = await throughWebview(b, { kind: 'connect' }, 303);
    const { webview: w3 } = await throughWebview(b, { kind: 'cancel' }, 400);

    // A failed exchange for another user: the code goes to Powens and comes back refused.
    const f = stack.browser('log-reader-2');
    knobs().fail('token.access', { status: 500, times: 1 });
    const { webview: w4, back: back4 } = await throughWebview(f, { kind: 'connect' }, 502);

    const token = await storedToken('log-reader');
    const cookies = [...b.cookies.values(), ...f.cookies.values()];
    expect(cookies.length).toBe(2);
    const sessionIds = cookies.map((c) => /^s:([^.]+)\./.exec(decodeURIComponent(c))?.[1] ?? '');
    const secrets = [
      TEST_CLIENT_SECRET,
      token ?? '',
      back1.searchParams.get('code') ?? '',
      back4.searchParams.get('code') ?? '',
      w2.searchParams.get('code') ?? '',
      ...[w1, w2, w3, w4].map((w) => w.searchParams.get('state') ?? ''),
      ...cookies,
      ...cookies.map((c) => decodeURIComponent(c)),
      ...sessionIds,
    ];
    for (const s of secrets) expect(s.length).toBeGreaterThan(10);

    const lines = stack.logs.slice(from);
    // One line per request at least: the test reads real output, not an empty log.
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const text = lines.join('\n');
    for (const s of secrets) expect(text).not.toContain(s);
    // Nor the URLs that carry them.
    expect(text).not.toContain('code=');
    expect(text).not.toContain('state=');
    expect(logEntries(stack, from).some((e) => e.errorCode === 'POWENS_UNAVAILABLE')).toBe(true);
  });
});
