import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview, type WebviewAction } from '../../emulator/index.js';
import type { Browser } from '../helpers/browser.js';
import { counter, expectPowensUsersMatchTokens, LINK_MODES, resetLinks, settled, type LinkModeName } from '../helpers/links.js';
import { expectErrorPage, pageLinks, logEntries, storedFor } from '../helpers/pages.js';
import { startConnect, startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * The connect flow of docs/REFERENCE.md ("Browser routes"), end to end: the real app on a real port, a real
 * redis-server, the emulator over HTTP, and a cookie-jar browser. In both link modes
 * (POWENS_LINK_MODE): what differs is how a first connection gets its Powens user; after every
 * test the emulator holds exactly the Powens users whose tokens are stored.
 */

describe.each(LINK_MODES)('POWENS_LINK_MODE=%s', (mode: LinkModeName) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { POWENS_LINK_MODE: mode } });
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

  /**
   * A token the knob made Powens refuse is dropped by the service, but its Powens user is alive
   * at the emulator (a real refusal means it is gone or out of reach): removed here.
   */
  async function removeRefusedUser(token: string): Promise<void> {
    await stack.powens.deleteUser(token);
  }

  describe('a first connection', () => {
    if (mode === 'exchange') {
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
    } else {
      it('creates the Powens user with POST /auth/init and stores its token, opens the webview with a single-use code; the callback links with connection_id alone', async () => {
        const b = stack.browser('first-user');
        const start = await b.get('/connect');
        expect(start.status).toBe(302);
        expect(start.headers.get('cache-control')).toBe('no-store');
        expect(knobs().calls('auth.init')).toBe(1);
        // Stored before the webview opens: the Powens user is never without its app user.
        const token = await storedToken('first-user');
        expect(token).toEqual(expect.any(String));
        const powensUser = emulatorState().findUserByToken(token ?? '');
        expect(powensUser?.connectionIds).toEqual([]);
        expect((await stack.built.tokens.get('first-user'))?.powensUserId).toBe(powensUser?.id);
        expect(await stack.built.connections.appUserOf(powensUser?.id ?? 0)).toBe('first-user');

        const webview = new URL(start.location ?? '');
        expect(`${webview.origin}${webview.pathname}`).toBe(`${stack.emulator.url}/en/connect`);
        expect(webview.searchParams.get('client_id')).toBe(TEST_CLIENT_ID);
        expect(webview.searchParams.get('redirect_uri')).toBe(`${stack.url}/callback`);
        expect(webview.searchParams.get('code')).toEqual(expect.any(String));
        expect(knobs().calls('token.code')).toBe(1);
        expect(webview.href).not.toContain(TEST_CLIENT_SECRET);
        expect(webview.href).not.toContain(token ?? '');

        const back = await completeWebview(webview.href, { kind: 'connect' });
        expect(back.searchParams.has('code')).toBe(false);
        const cb = await b.get(back.href);
        expect(cb.status).toBe(303);
        const connectionId = Number(back.searchParams.get('connection_id'));
        expect(cb.location).toBe(`/?connection_id=${connectionId}`);
        expect(knobs().calls('token.access')).toBe(0);
        expect(await storedToken('first-user')).toBe(token);
        expect(emulatorState().findUserByToken(token ?? '')?.connectionIds).toEqual([connectionId]);
        expect(await counter(stack, 'powens_users_created_total', { reason: 'init' })).toBeGreaterThanOrEqual(1);
      });

      it('a second /connect before the webview is finished reuses the stored Powens user', async () => {
        const b = stack.browser('init-twice');
        const first = new URL(await startConnect(b));
        const second = new URL(await startConnect(b));
        expect(knobs().calls('auth.init')).toBe(1);
        expect(first.searchParams.get('code')).not.toBe(second.searchParams.get('code'));
        for (const w of [first, second]) expect((await b.get((await completeWebview(w.href, { kind: 'connect' })).href)).status).toBe(303);
        expect(emulatorState().users()).toHaveLength(1);
        expect(emulatorState().users()[0]?.connectionIds).toHaveLength(2);
      });

      it('two /connect at once for a user with no token: one Powens user is kept, the other deleted, and both webviews open on the kept one', async () => {
        const b = stack.browser('init-race');
        // One session first, so both requests share it (as two tabs of one browser do).
        await b.get('/me/connections');
        const [one, two] = await Promise.all([b.get('/connect'), b.get('/connect')]);
        expect([one.status, two.status]).toEqual([302, 302]);
        await settled(stack);
        expect(knobs().calls('auth.init')).toBe(2);
        expect(knobs().calls('users.delete')).toBe(1);
        expect(await counter(stack, 'powens_users_deleted_total', { reason: 'init_race', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
        const kept = emulatorState().users();
        expect(kept).toHaveLength(1);
        for (const hop of [one, two]) {
          const back = await completeWebview(hop.location ?? '', { kind: 'connect' });
          expect(powensUserOf(Number(back.searchParams.get('connection_id')))).toBe(kept[0]?.id);
        }
      });

      it('POST /auth/init failing is a 502 page; nothing is created or stored', async () => {
        knobs().fail('auth.init', { status: 500, times: 1 });
        const b = stack.browser('init-down');
        const hop = await b.get('/connect', { accept: 'text/html' });
        expectErrorPage(stack, hop, { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
        expect(await storedFor(stack, 'init-down')).toEqual([]);
        expect(emulatorState().users()).toEqual([]);
      });
    }
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
      if (mode === 'exchange') {
        expect(webview.searchParams.has('code')).toBe(false);
        expect(await storedFor(stack, 'stale-user')).toEqual([]);
      } else {
        // init: a new Powens user at once, stored before the webview.
        expect(webview.searchParams.get('code')).toEqual(expect.any(String));
        expect(await storedToken('stale-user')).not.toBe(staleToken);
      }
      expect(await counter(stack, 'powens_tokens_dropped_total', { reason: 'refused_by_powens' })).toBeGreaterThanOrEqual(1);

      const back = await completeWebview(webview.href, { kind: 'connect' });
      const cb = await b.get(back.href);
      expect(cb.status).toBe(303);
      const fresh = await storedToken('stale-user');
      expect(fresh).toEqual(expect.any(String));
      expect(fresh).not.toBe(staleToken);
      expect(powensUserOf(connectionIdOf(cb.location))).not.toBe(powensUserOf(first.connectionId));
      await removeRefusedUser(staleToken);
    });

    it('tells a user whose only token Powens refuses that there is nothing to manage', async () => {
      const { b, token } = await link('stale-manager');
      knobs().fail('token.code', { status: 401, times: 1 });
      const hop = await b.get('/manage');
      expectErrorPage(stack, hop, { status: 409, errorCode: 'NOT_LINKED', retry: '/connect' });
      expect(await storedFor(stack, 'stale-manager')).toEqual([]);
      await removeRefusedUser(token);
    });
  });

  describe('two tabs', () => {
    if (mode === 'exchange') {
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
    } else {
      it.each([
        ['in the order they were started', [0, 1]],
        ['in the reverse order', [1, 0]],
      ] as const)('of a user with no token, finished %s: both join the Powens user created at the first /connect', async (_order, [a, c]) => {
        const userId = `two-tabs-${a}`;
        const b = stack.browser(userId);
        const tabs = [await startConnect(b), await startConnect(b)];
        for (const tab of tabs) expect(new URL(tab).searchParams.get('code')).toEqual(expect.any(String));
        const backs = [await completeWebview(tabs[0] ?? '', { kind: 'connect' }), await completeWebview(tabs[1] ?? '', { kind: 'connect' })];
        expect((await b.get((backs[a] as URL).href)).status).toBe(303);
        expect((await b.get((backs[c] as URL).href)).status).toBe(303);
        expect(emulatorState().users()).toHaveLength(1);
        expect(emulatorState().findUserByToken((await storedToken(userId)) ?? '')?.connectionIds).toHaveLength(2);
        expect(knobs().calls('users.delete')).toBe(0);
      });
    }

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
        // exchange: the callback's code; init: the first webview's temporary code.
        back1.searchParams.get('code') ?? w1.searchParams.get('code') ?? '',
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

      // A failure for another user. exchange: the code goes to Powens and comes back refused;
      // init: its new Powens user's temporary code cannot be had.
      const f = stack.browser('log-reader-2');
      const failed: string[] = [];
      if (mode === 'exchange') {
        knobs().fail('token.access', { status: 500, times: 1 });
        const { webview: w4, back: back4 } = await throughWebview(f, { kind: 'connect' }, 502);
        failed.push(back4.searchParams.get('code') ?? '', w4.searchParams.get('state') ?? '');
      } else {
        knobs().fail('token.code', { status: 500, times: 2 });
        expect((await f.get('/connect')).status).toBe(502);
        failed.push((await storedToken('log-reader-2')) ?? '');
      }

      const token = await storedToken('log-reader');
      const cookies = [...b.cookies.values(), ...f.cookies.values()];
      // init: the failed /connect ended before its session was kept.
      expect(cookies.length).toBe(mode === 'exchange' ? 2 : 1);
      const sessionIds = cookies.map((c) => /^s:([^.]+)\./.exec(decodeURIComponent(c))?.[1] ?? '');
      const secrets = [
        TEST_CLIENT_SECRET,
        token ?? '',
        back1.searchParams.get('code') ?? w1.searchParams.get('code') ?? '',
        ...failed,
        w2.searchParams.get('code') ?? '',
        ...[w1, w2, w3].map((w) => w.searchParams.get('state') ?? ''),
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
});
