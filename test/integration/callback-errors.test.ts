import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { digest } from '../../src/crypto.js';
import { completeWebview } from '../../emulator/index.js';
import { FLOW_TTL_MS, MAX_FLOWS_PER_SESSION } from '../../src/storage/flows.js';
import { Browser, type Hop } from '../helpers/browser.js';
import { expectPowensUsersMatchTokens, LINK_MODES, resetLinks, settled, type LinkModeName } from '../helpers/links.js';
import { expectErrorPage, pageLinks, storedFor } from '../helpers/pages.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

/**
 * Every way `/callback` can fail (docs/REFERENCE.md, "GET /callback"): the status, the error page, what is stored,
 * and what is left at Powens. In both link modes; after every test, once the background work has
 * ended, the emulator holds exactly the Powens users whose tokens are stored (no orphan, no
 * dangling token). A refused callback that carries a code still exchanges it, and the Powens user
 * that code names is deleted. The app runs on a clock the tests move, and a short Powens timeout.
 */

const POWENS_TIMEOUT_MS = 300;
let offset = 0;
let frozen: number | undefined;

describe.each(LINK_MODES)('POWENS_LINK_MODE=%s', (mode: LinkModeName) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { POWENS_TIMEOUT_MS: String(POWENS_TIMEOUT_MS), POWENS_LINK_MODE: mode },
      now: () => frozen ?? Date.now() + offset,
    });
  });
  afterAll(async () => {
    await stack.close();
  });
  beforeEach(async () => {
    offset = 0;
    frozen = undefined;
    await resetLinks(stack);
  });
  afterEach(async () => {
    await expectPowensUsersMatchTokens(stack);
  });

  const knobs = (): Stack['emulator']['emulator']['knobs'] => stack.emulator.emulator.knobs;

  /** A started flow: the browser (with its session cookie) and the webview URL. */
  async function started(userId: string, path = '/connect'): Promise<{ b: Browser; webview: URL; state: string }> {
    const b = stack.browser(userId);
    const webview = new URL(await startConnect(b, path));
    return { b, webview, state: webview.searchParams.get('state') ?? '' };
  }

  /** A callback URL of this service with the given raw query string. */
  function callback(query: string): string {
    return `${stack.url}/callback?${query}`;
  }

  /**
   * Nothing linked by the callback: in `exchange` mode nothing is stored; in `init` mode the
   * token stored by /connect (POST /auth/init) is all there is.
   */
  async function expectNothingStored(userId: string): Promise<void> {
    expect(await storedFor(stack, userId)).toHaveLength(mode === 'init' ? 1 : 0);
  }

  /**
   * What a refused callback of a completed webview leaves at Powens: in `exchange` mode its code
   * was exchanged and the new Powens user deleted; in `init` mode the callback has no code.
   */
  async function expectWebviewCodeDiscarded(exchanges = 1): Promise<void> {
    await settled(stack);
    expect(knobs().calls('token.access')).toBe(mode === 'exchange' ? exchanges : 0);
    expect(knobs().calls('users.delete')).toBe(mode === 'exchange' ? exchanges : 0);
  }

  describe('the webview reports an error', () => {
    it('cancel (access_denied) is a 400 page saying it was cancelled; nothing is exchanged or stored', async () => {
      const { b, webview } = await started('cancel-user');
      const back = await completeWebview(webview.href, { kind: 'cancel' });
      expect(back.searchParams.get('error')).toBe('access_denied');
      const page = await b.get(back.href);
      expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_CANCELLED', retry: '/connect' });
      expect(page.text).toContain('You cancelled the bank connection.');
      expect(knobs().calls('token.access')).toBe(0);
      await expectNothingStored('cancel-user');
    });

    it('tos_declined is a 400 page about the terms', async () => {
      const { b, webview } = await started('decline-user');
      const back = await completeWebview(webview.href, { kind: 'decline' });
      expect(back.searchParams.get('error')).toBe('tos_declined');
      const page = await b.get(back.href);
      expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_TOS_DECLINED', retry: '/connect' });
      expect(page.text).toContain('terms of service were declined');
      await expectNothingStored('decline-user');
    });

    it('server_error is a 502 page: Powens had a problem', async () => {
      const { b, state } = await started('server-error-user');
      const page = await b.get(callback(`state=${state}&error=server_error`));
      expectErrorPage(stack, page, { status: 502, errorCode: 'FLOW_POWENS_ERROR', retry: '/connect' });
      await expectNothingStored('server-error-user');
    });

    it('an unknown code gets the generic 400 page; its description is logged, capped, and never rendered', async () => {
      const { b, state } = await started('unknown-error-user');
      const description = `<script>alert(1)</script>${'x'.repeat(1000)}`;
      const page = await b.get(callback(`state=${state}&error=account_locked_somehow&error_description=${encodeURIComponent(description)}`));
      const entry = expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_FAILED', retry: '/connect' });
      expect(page.text).not.toContain('account_locked_somehow');
      expect(page.text).not.toContain('alert(1)');
      const detail = entry.detail as { webviewError: string; description: string };
      expect(detail.webviewError).toBe('account_locked_somehow');
      expect(detail.description.startsWith('<script>alert(1)</script>')).toBe(true);
      expect(detail.description.length).toBeLessThanOrEqual(300);
      await expectNothingStored('unknown-error-user');
    });

    it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
      'an error code named like an object member (%s) is an unknown code, not a crash',
      async (code) => {
        const { b, state } = await started(`proto-${code}`);
        const page = await b.get(callback(`state=${state}&error=${code}`));
        expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_FAILED', retry: '/connect' });
      },
    );

    it('an error code with markup is an unknown code and is not echoed', async () => {
      const { b, state } = await started('markup-error-user');
      const page = await b.get(callback(`state=${state}&error=${encodeURIComponent('<img src=x onerror=alert(1)>')}`));
      const entry = expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_FAILED', retry: '/connect' });
      expect(page.text).not.toContain('onerror');
      expect((entry.detail as { webviewError: string }).webviewError).toBe('unrecognised');
    });
  });

  describe('the state', () => {
    it('missing is a 400 page; the code it carries is still exchanged (an unknown one: nothing to delete)', async () => {
      const { b } = await started('no-state-user');
      const page = await b.get(callback('code=some-code-value'));
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_MISSING', retry: '/connect' });
      expect(knobs().calls('token.access')).toBe(1);
      expect(knobs().calls('users.delete')).toBe(0);
      await expectNothingStored('no-state-user');
    });

    it('wrong is a 400 page; the Powens user its code names is deleted', async () => {
      const { b, webview } = await started('wrong-state-user');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      back.searchParams.set('state', 'A'.repeat(43));
      const page = await b.get(back.href);
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('wrong-state-user');
    });

    it('expired (older than 15 minutes) is a 400 page; the Powens user its code names is deleted', async () => {
      const { b, webview } = await started('expired-user');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      offset = FLOW_TTL_MS + 1000;
      const page = await b.get(back.href);
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('expired-user');
    });

    it('just under 15 minutes old still completes', async () => {
      const { b, webview } = await started('nearly-expired-user');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      offset = FLOW_TTL_MS - 1000;
      expect((await b.get(back.href)).status).toBe(303);
    });

    it('replayed after success (a reload) says the bank is connected and links back, without exchanging the code again', async () => {
      const { b, webview } = await started('replay-user');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      const first = await b.get(back.href);
      expect(first.status).toBe(303);
      const token = (await stack.built.tokens.get('replay-user'))?.token;
      const replay = await b.get(back.href);
      expect(replay.status).toBe(200);
      expect(replay.headers.get('cache-control')).toBe('no-store');
      expect(replay.text).toContain('<h1>Your bank is connected</h1>');
      expect(pageLinks(replay)).toEqual({ back: first.location, retry: undefined });
      await settled(stack);
      expect(knobs().calls('token.access')).toBe(mode === 'exchange' ? 1 : 0);
      expect(knobs().calls('users.delete')).toBe(0);
      expect((await stack.built.tokens.get('replay-user'))?.token).toBe(token);
    });

    it('replayed after success in another browser session, by another user, or after 15 minutes is a 400 page; its spent code is refused by Powens, and the stored token stays', async () => {
      const { b, webview } = await started('replay-elsewhere');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      expect((await b.get(back.href)).status).toBe(303);
      const token = (await stack.built.tokens.get('replay-elsewhere'))?.token;
      const other = stack.browser('replay-elsewhere');
      expect((await other.get('/connect')).status).toBe(302);
      expectErrorPage(stack, await other.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      expectErrorPage(stack, await b.get(back.href, { 'x-user-id': 'mallory' }), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      offset = FLOW_TTL_MS + 1000;
      expectErrorPage(stack, await b.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      await settled(stack);
      // exchange: the first callback's exchange, then each refused replay's, refused (the code is spent).
      expect(knobs().calls('token.access')).toBe(mode === 'exchange' ? 4 : 0);
      expect(knobs().calls('users.delete')).toBe(0);
      expect((await stack.built.tokens.get('replay-elsewhere'))?.token).toBe(token);
    });

    it('of a failed flow is used up too: its replay is refused', async () => {
      const { b, webview } = await started('replay-after-failure');
      const back = await completeWebview(webview.href, { kind: 'cancel' });
      expect((await b.get(back.href)).status).toBe(400);
      expectErrorPage(stack, await b.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
    });

    it('started by another user in the same browser is a 400 page; nothing is linked for either, and the flow is used up', async () => {
      const { b, webview } = await started('alice');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      const page = await b.get(back.href, { 'x-user-id': 'mallory' });
      expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_USER_MISMATCH', retry: '/connect' });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('alice');
      expect(await storedFor(stack, 'mallory')).toEqual([]);
      expect((await b.get(back.href)).status).toBe(400);
    });

    it("of another browser's session is refused in this one; the other's flow stays, though a code it carried is spent", async () => {
      const { b, webview } = await started('victim');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      const other = stack.browser('attacker');
      await startConnect(other);
      const page = await other.get(back.href);
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('attacker');
      await expectNothingStored('victim');
      // The victim's flow was not consumed. In exchange mode its code was exchanged and its new
      // Powens user deleted by the refusal above, so Powens refuses the code now: a 502 page
      // whose "try again" starts over. In init mode the callback needs no code and completes.
      const own = await b.get(back.href);
      if (mode === 'exchange') expectErrorPage(stack, own, { status: 502, errorCode: 'POWENS_REJECTED', retry: '/connect' });
      else expect(own.status).toBe(303);
    });

    it(`of the oldest flow is dropped when more than ${MAX_FLOWS_PER_SESSION} are pending, even within one millisecond`, async () => {
      frozen = Date.now();
      const b = stack.browser('many-tabs');
      const webviews: URL[] = [];
      for (let i = 0; i <= MAX_FLOWS_PER_SESSION; i++) webviews.push(new URL(await startConnect(b)));
      // This session's pending flows: keys named by a digest of its session id.
      const cookie = decodeURIComponent([...b.cookies.values()][0] ?? '');
      const sessionId = /^s:([^.]+)\./.exec(cookie)?.[1] ?? '';
      const flowKeys = [...(await stack.dump()).keys()].filter((k) => k.startsWith(`${stack.config.redis.prefix}flow:{${digest(sessionId)}}:`));
      expect(flowKeys).toHaveLength(MAX_FLOWS_PER_SESSION);

      const oldest = webviews[0]?.searchParams.get('state') ?? '';
      const page = await b.get(callback(`state=${oldest}&code=whatever-code`));
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      expect(knobs().calls('token.access')).toBe(1);
      expect(knobs().calls('users.delete')).toBe(0);

      const second = await completeWebview(webviews[1]?.href ?? '', { kind: 'connect' });
      expect((await b.get(second.href)).status).toBe(303);
    });
  });

  describe('the session cookie', () => {
    it('not sent back is a 400 page, the page and the log say so, and the Powens user the code names is deleted', async () => {
      const { b, webview } = await started('cookieless-user');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      const cookieless = b.withoutCookies();
      const page = await cookieless.get(back.href, { 'x-user-id': 'cookieless-user' });
      const entry = expectErrorPage(stack, page, { status: 400, errorCode: 'SESSION_COOKIE_MISSING', retry: '/connect' });
      expect(page.text).toContain('did not send the session cookie back');
      expect((entry.detail as { hint: string }).hint).toContain('did not send the session cookie back');
      expect(page.text).not.toContain('expired or was already used');
      await expectWebviewCodeDiscarded();
      await expectNothingStored('cookieless-user');
      // The flow is still there for the browser that has the cookie; its code is spent in exchange mode.
      const own = await b.get(back.href);
      if (mode === 'exchange') expectErrorPage(stack, own, { status: 502, errorCode: 'POWENS_REJECTED', retry: '/connect' });
      else expect(own.status).toBe(303);
    });
  });

  describe('odd parameters', () => {
    it('two codes are a 400 page; both are exchanged (unknown ones: nothing to delete), and the flow is spent like any used flow', async () => {
      const { b, webview, state } = await started('two-codes-user');
      const page = await b.get(callback(`state=${state}&code=first-code-value&code=second-code-value`));
      expectErrorPage(stack, page, { status: 400, errorCode: 'BAD_REQUEST', retry: '/connect' });
      expect(knobs().calls('token.access')).toBe(2);
      await expectNothingStored('two-codes-user');
      // docs/REFERENCE.md: consumed on first use, success or not.
      knobs().reset();
      const back = await completeWebview(webview.href, { kind: 'connect' });
      expectErrorPage(stack, await b.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('two-codes-user');
    });

    it('a malformed parameter of a reconnect callback is a 400 page whose try-again link starts that reconnect over', async () => {
      const b = stack.browser('odd-reconnect-user');
      const linked = await b.get((await completeWebview(await startConnect(b), { kind: 'connect' })).href);
      expect(linked.status).toBe(303);
      const connectionId = new URL(linked.location ?? '', stack.url).searchParams.get('connection_id') ?? '';
      const reconnect = new URL(await startConnect(b, `/reconnect/${connectionId}`));
      const page = await b.get(callback(`state=${reconnect.searchParams.get('state') ?? ''}&error=a&error=b`));
      expectErrorPage(stack, page, { status: 400, errorCode: 'BAD_REQUEST', retry: `/reconnect/${connectionId}` });
    });

    it('two states are a 400 page', async () => {
      const { b, state } = await started('two-states-user');
      const page = await b.get(callback(`state=${state}&state=${state}&code=abc`));
      expectErrorPage(stack, page, { status: 400, errorCode: 'BAD_REQUEST', retry: '/connect' });
      await expectNothingStored('two-states-user');
    });

    it('state[]= is not a state: a 400 page', async () => {
      const { b, state } = await started('array-state-user');
      const page = await b.get(callback(`state[]=${state}&code=abc`));
      expect(page.status).toBe(400);
      expectErrorPage(stack, page, { status: 400, errorCode: 'STATE_MISSING', retry: '/connect' });
      await expectNothingStored('array-state-user');
    });

    it('state[key]= and code[]= are not values either', async () => {
      const { b, state } = await started('bracket-user');
      expect((await b.get(callback(`state[a]=${state}&code=abc`))).status).toBe(400);
      // `code[]` is no code: exchange mode misses the one it needs (400); init mode needs none.
      expect((await b.get(callback(`state=${state}&code[]=abc`))).status).toBe(mode === 'exchange' ? 400 : 303);
      // The first one's code is exchanged (and refused by Powens); `code[]` is no code.
      expect(knobs().calls('token.access')).toBe(1);
      await expectNothingStored('bracket-user');
    });

    it.each(['state', 'code', 'error', 'error_description', 'connection_id'])(
      'a 10 kB %s is a 400 page; nothing is stored, the one readable code is exchanged',
      async (name) => {
        const { b, state } = await started(`big-${name}`);
        const big = 'A'.repeat(10 * 1024);
        const query = name === 'state' ? `state=${big}&code=abc` : `state=${state}&code=abc&${name}=${big}`;
        const page = await b.get(callback(query));
        expectErrorPage(stack, page, { status: 400, errorCode: 'BAD_REQUEST', retry: '/connect' });
        expect(page.text).not.toContain(big.slice(0, 100));
        expect(knobs().calls('token.access')).toBe(1);
        await expectNothingStored(`big-${name}`);
      },
    );

    it('a 10 kB parameter the callback does not read is ignored', async () => {
      const { b, webview } = await started('big-unknown');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      back.searchParams.set('utm_campaign', 'A'.repeat(10 * 1024));
      expect((await b.get(back.href)).status).toBe(303);
    });
  });

  // Only exchange mode exchanges a code to link; init mode's failures of POST /auth/init are in connect-flow.test.ts.
  if (mode === 'exchange') {
    describe('the code exchange fails', () => {
      async function finishWith(userId: string, setup: () => void): Promise<Hop> {
        const { b, webview } = await started(userId);
        const back = await completeWebview(webview.href, { kind: 'connect' });
        setup();
        return b.get(back.href);
      }

      /** The code was exchanged again in the background and the Powens user it names deleted. */
      async function expectExchangedAgainAndDeleted(): Promise<void> {
        await settled(stack);
        expect(knobs().calls('token.access')).toBe(2);
        expect(knobs().calls('users.delete')).toBe(1);
      }

      it('with a 500: a 502 page, asked once in the request; the code is exchanged again later and its Powens user deleted', async () => {
        const page = await finishWith('exchange-500', () => knobs().fail('token.access', { status: 500, times: 1 }));
        expectErrorPage(stack, page, { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
        expect(knobs().calls('token.access')).toBe(1);
        await expectNothingStored('exchange-500');
        await expectExchangedAgainAndDeleted();
      });

      it('by hanging: a 502 page once POWENS_TIMEOUT_MS has passed, asked once in the request; cleaned up later', async () => {
        const { b, webview } = await started('exchange-hang');
        const back = await completeWebview(webview.href, { kind: 'connect' });
        knobs().hang('token.access', { times: 1 });
        // A generous bound, only so that a hang fails this test instead of the whole run.
        const page = await b.request('GET', back.href, { deadlineMs: POWENS_TIMEOUT_MS * 20 });
        const entry = expectErrorPage(stack, page, { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
        expect(JSON.stringify(entry)).toContain('ETIMEDOUT');
        expect(knobs().calls('token.access')).toBe(1);
        await expectNothingStored('exchange-hang');
        await expectExchangedAgainAndDeleted();
      });

      it('with malformed JSON: a 502 page, nothing stored; cleaned up later', async () => {
        const page = await finishWith('exchange-malformed', () => knobs().malformed('token.access', { times: 1 }));
        expectErrorPage(stack, page, { status: 502, errorCode: 'POWENS_BAD_RESPONSE', retry: '/connect' });
        await expectNothingStored('exchange-malformed');
        await expectExchangedAgainAndDeleted();
      });

      it('with an answer that holds no token: a 502 page, nothing stored; cleaned up later', async () => {
        const page = await finishWith('exchange-no-token', () => knobs().fail('token.access', { status: 200, body: { token_type: 'Bearer' }, times: 1 }));
        expectErrorPage(stack, page, { status: 502, errorCode: 'POWENS_BAD_RESPONSE', retry: '/connect' });
        await expectNothingStored('exchange-no-token');
        await expectExchangedAgainAndDeleted();
      });

      it('refused by Powens (the code is spent or unknown): a 502 page; nothing is exchanged again', async () => {
        const { b, webview } = await started('exchange-refused');
        const back = await completeWebview(webview.href, { kind: 'connect' });
        knobs().fail('token.access', { status: 400, times: 1 });
        expectErrorPage(stack, await b.get(back.href), { status: 502, errorCode: 'POWENS_REJECTED', retry: '/connect' });
        await settled(stack);
        expect(knobs().calls('token.access')).toBe(1);
        await expectNothingStored('exchange-refused');
        // The knob answered instead of the emulator, so the webview's own code was never used and
        // its Powens user is still there (a real refusal created nothing this service could
        // reach). Exchanged and deleted here, as nobody else will.
        const leftover = await stack.powens.exchangeCode(back.searchParams.get('code') ?? '');
        await stack.powens.deleteUser(leftover);
      });

      it('with the token answered only as access_token: the flow completes', async () => {
        const { b, webview } = await started('exchange-access-token');
        const back = await completeWebview(webview.href, { kind: 'connect' });
        const user = knobs().addUser({ connections: [] });
        knobs().fail('token.access', { status: 200, body: { access_token: user.token, token_type: 'Bearer' }, times: 1 });
        expect((await b.get(back.href)).status).toBe(303);
        expect((await stack.built.tokens.get('exchange-access-token'))?.token).toBe(user.token);
        // The knob answered instead of the emulator: the webview's own code was never used, and
        // its Powens user is still there. Exchanged and deleted here, as nobody else will.
        const leftover = await stack.powens.exchangeCode(back.searchParams.get('code') ?? '');
        await stack.powens.deleteUser(leftover);
      });

      it('a failed lookup of the new Powens user id fails the link (502); that Powens user is deleted once its id is known', async () => {
        // Twice: the request's call and its one retry (POWENS_RETRIES=1).
        const page = await finishWith('users-me-down', () => knobs().fail('users.me', { status: 503, times: 2 }));
        expectErrorPage(stack, page, { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
        expect(await storedFor(stack, 'users-me-down')).toEqual([]);
        await settled(stack);
        expect(knobs().calls('users.delete')).toBe(1);
        expect(stack.emulator.emulator.state.users()).toEqual([]);
      });
    });
  }

  describe('a callback with no user signed in', () => {
    it('is a 401 page and links nothing; the Powens user its code names is deleted', async () => {
      const { b, webview } = await started('signed-out');
      const back = await completeWebview(webview.href, { kind: 'connect' });
      // The same browser session, but the app's proxy no longer vouches for a user.
      const signedOut = new Browser(stack.url);
      for (const [name, value] of b.cookies) signedOut.cookies.set(name, value);
      const page = await signedOut.get(back.href);
      expectErrorPage(stack, page, { status: 401, errorCode: 'USER_REQUIRED', retry: undefined });
      await expectWebviewCodeDiscarded();
      await expectNothingStored('signed-out');
    });
  });
});
