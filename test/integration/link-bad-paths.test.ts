import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { completeWebview } from '../../emulator/index.js';
import { FLOW_TTL_MS } from '../../src/storage/flows.js';
import type { Browser, Hop } from '../helpers/browser.js';
import { counter, emulatorUsers, expectPowensUsersMatchTokens, LINK_MODES, settled, storedPowensUsers, type LinkModeName } from '../helpers/links.js';
import { expectErrorPage, logEntries } from '../helpers/pages.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Every bad path of a first connection, one after the other on one service, in both link modes:
 * a forged, a spent and an expired state, no session cookie, another signed-in user, Powens
 * failing, Redis refusing the store, Redis refusing writes during the store, Redis paused during
 * the link, Redis paused when the browser comes back. The walk ends with the emulator holding exactly the Powens users whose tokens are
 * stored, and every Powens user the service came to hold counted and logged as created, and each
 * one not stored counted and logged as deleted.
 *
 * Redis' refusals are real: the service signs in as an ACL user whose key patterns the test
 * narrows for one step (no write fates: the token script is refused).
 */

jest.setTimeout(120_000);

const FAMILIES = [
  'sess:*',
  'user-sessions:*',
  'token:*',
  'token-write:*',
  'flow:*',
  'flows:*',
  'flow-done:*',
  'connections*',
  'rl*',
  'webhook-seen:*',
  'powens-user:*',
];

describe.each(LINK_MODES)('POWENS_LINK_MODE=%s', (mode: LinkModeName) => {
  const prefix = `walk${randomBytes(3).toString('hex')}:`;
  const aclUser = `bff-${randomBytes(3).toString('hex')}`;
  const aclPassword = randomBytes(12).toString('hex');
  let redis: TestRedis;
  let admin: Redis;
  let stack: Stack;
  let offset = 0;

  /** The app's user may touch these key families (under the prefix) only. */
  async function allow(families: string[]): Promise<void> {
    await admin.call('ACL', 'SETUSER', aclUser, 'on', `>${aclPassword}`, 'resetkeys', ...families.map((f) => `~${prefix}${f}`), '+@all');
  }

  beforeAll(async () => {
    redis = await startTestRedis();
    admin = new Redis(redis.url);
    await allow(FAMILIES);
    const url = new URL(redis.url);
    url.username = aclUser;
    url.password = aclPassword;
    stack = await startStack({ testRedis: redis, prefix, env: { REDIS_URL: url.href, POWENS_LINK_MODE: mode }, now: () => Date.now() + offset });
  });
  afterAll(async () => {
    redis.resume();
    await stack.close();
    admin.disconnect();
    await redis.close();
  });

  const knobs = (): Stack['emulator']['emulator']['knobs'] => stack.emulator.emulator.knobs;

  /** /connect, then the webview to its end: the browser and the URL the webview sends it back to. */
  async function throughWebview(userId: string): Promise<{ b: Browser; back: URL }> {
    const b = stack.browser(userId);
    const back = await completeWebview(await startConnect(b), { kind: 'connect' });
    return { b, back };
  }

  /** Sends `request`; once the emulator has received a call of `endpoint` (delayed by `delayMs`), does `meanwhile`. */
  async function whileWaitingFor(
    endpoint: 'users.me' | 'auth.init',
    delayMs: number,
    request: () => Promise<Hop>,
    meanwhile: () => Promise<void>,
  ): Promise<Hop> {
    const before = knobs().calls(endpoint);
    knobs().delay(endpoint, delayMs, { times: 1 });
    const answer = request();
    await waitFor(() => knobs().calls(endpoint) > before, { timeoutMs: 10_000, what: `the service to call ${endpoint}` });
    await meanwhile();
    return answer;
  }

  it('leaves no orphaned Powens user and no dangling token, whatever goes wrong', async () => {
    const from = stack.logs.length;

    // 1. A forged state.
    {
      const { b, back } = await throughWebview('forged');
      back.searchParams.set('state', 'F'.repeat(43));
      expectErrorPage(stack, await b.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
    }
    // 2. A spent state: the replay of a callback that linked, in its session (the page says it went
    // through), in another browser and by another user of that browser (refused).
    {
      const { b, back } = await throughWebview('spent');
      expect((await b.get(back.href)).status).toBe(303);
      expect((await b.get(back.href)).status).toBe(200);
      expectErrorPage(stack, await stack.browser('spent').get(back.href), { status: 400, errorCode: 'SESSION_COOKIE_MISSING', retry: '/connect' });
      expectErrorPage(stack, await b.get(back.href, { 'x-user-id': 'spent-other' }), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
    }
    // 3. An expired state.
    {
      const { b, back } = await throughWebview('expired');
      offset = FLOW_TTL_MS + 1000;
      try {
        expectErrorPage(stack, await b.get(back.href), { status: 400, errorCode: 'STATE_INVALID', retry: '/connect' });
      } finally {
        offset = 0;
      }
    }
    // 4. No session cookie.
    {
      const { b, back } = await throughWebview('cookieless');
      const page = await b.withoutCookies().get(back.href, { 'x-user-id': 'cookieless' });
      expectErrorPage(stack, page, { status: 400, errorCode: 'SESSION_COOKIE_MISSING', retry: '/connect' });
    }
    // 5. Another user signed in when the browser comes back.
    {
      const { b, back } = await throughWebview('first-signed-in');
      const page = await b.get(back.href, { 'x-user-id': 'second-signed-in' });
      expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_USER_MISMATCH', retry: '/connect' });
    }
    // 6. Powens fails: the exchange (exchange), or the creation of the user (init).
    if (mode === 'exchange') {
      const { b, back } = await throughWebview('exchange-fails');
      knobs().fail('token.access', { status: 503, times: 1 });
      expectErrorPage(stack, await b.get(back.href), { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
    } else {
      knobs().fail('auth.init', { status: 503, times: 1 });
      expectErrorPage(stack, await stack.browser('init-fails').get('/connect'), { status: 502, errorCode: 'POWENS_UNAVAILABLE', retry: '/connect' });
    }
    // 7. Redis refuses the store (the token script touches a key family the app may not write).
    {
      const ready = mode === 'exchange' ? await throughWebview('store-refused') : undefined;
      await allow(FAMILIES.filter((f) => f !== 'token-write:*'));
      let page: Hop;
      try {
        page = ready === undefined ? await stack.browser('store-refused').get('/connect') : await ready.b.get(ready.back.href);
      } finally {
        await allow(FAMILIES);
      }
      expectErrorPage(stack, page, { status: 503, errorCode: 'STORE_UNAVAILABLE', retry: '/connect' });
      await settled(stack);
      expect(await counter(stack, 'powens_users_deleted_total', { reason: 'store_failed', outcome: 'ok' })).toBe(1);
    }
    // 8. Redis holds every write for 2 s right when the token is stored: the write times out in
    // the request, runs once Redis lets it, and the background reconcile finds it stored.
    {
      const holdWrites = async (): Promise<void> => {
        await admin.call('CLIENT', 'PAUSE', '2000', 'WRITE');
      };
      let page: Hop;
      if (mode === 'exchange') {
        const { b, back } = await throughWebview('writes-held');
        page = await whileWaitingFor('users.me', 300, () => b.get(back.href), holdWrites);
      } else {
        page = await whileWaitingFor('auth.init', 300, () => stack.browser('writes-held').get('/connect'), holdWrites);
      }
      expectErrorPage(stack, page, { status: 503, errorCode: 'STORE_UNAVAILABLE', retry: '/connect' });
      await settled(stack);
      // Not given up for failed: it ran after all, and is kept.
      expect(await stack.built.tokens.get('writes-held')).toMatchObject({ token: expect.any(String) });
      expect(logEntries(stack, from).some((e) => e.msg === 'token write found stored after all: the link is kept')).toBe(true);
    }
    // 9. Redis paused (SIGSTOP) for 1.5 s during the link.
    {
      const pause = (): Promise<void> => {
        redis.pause();
        setTimeout(() => redis.resume(), 1500).unref();
        return Promise.resolve();
      };
      let page: Hop;
      if (mode === 'exchange') {
        const { b, back } = await throughWebview('paused');
        page = await whileWaitingFor('users.me', 200, () => b.get(back.href), pause);
      } else {
        page = await whileWaitingFor('auth.init', 200, () => stack.browser('paused').get('/connect'), pause);
      }
      expect(page.status).toBe(503);
      await waitFor(async () => (await stack.redis.ping().catch(() => '')) === 'PONG', { timeoutMs: 15_000, what: 'Redis to answer again' });
    }

    // 10. Redis paused when the browser comes back: the session cannot even be read, so the
    // callback is refused before its handler (503); the code it carries is cleaned up anyway.
    {
      const { b, back } = await throughWebview('session-unreadable');
      redis.pause();
      let page: Hop;
      try {
        page = await b.get(back.href);
      } finally {
        redis.resume();
      }
      expect(page.status).toBe(503);
      await settled(stack);
      // exchange: nothing linked, its Powens user deleted; init: the user stored at /connect stays.
      const kept = await stack.built.tokens.get('session-unreadable');
      if (mode === 'exchange') expect(kept).toBeNull();
      else expect(kept).toMatchObject({ token: expect.any(String) });
    }

    // The end: exactly the Powens users whose tokens are stored.
    await expectPowensUsersMatchTokens(stack);
    const stored = await storedPowensUsers(stack);
    expect(stored.length).toBeGreaterThanOrEqual(mode === 'exchange' ? 2 : 7);
    // Every Powens user the service came to hold: stored, or deleted (each counted and logged).
    const created =
      (await counter(stack, 'powens_users_created_total', { reason: 'exchange' })) + (await counter(stack, 'powens_users_created_total', { reason: 'init' }));
    let deleted = 0;
    for (const reason of ['refused_callback', 'link_race', 'store_failed', 'unconfirmed_write', 'init_race']) {
      deleted += await counter(stack, 'powens_users_deleted_total', { reason, outcome: 'ok' });
    }
    expect({ created, deletedPlusStored: deleted + stored.length }).toEqual({ created, deletedPlusStored: created });
    const logged = logEntries(stack, from);
    const createdIds = logged.filter((e) => e.msg === 'Powens user created').map((e) => e.powensUserId as number);
    const deletedIds = logged.filter((e) => e.msg === 'Powens user deleted').map((e) => e.powensUserId as number);
    expect(createdIds).toHaveLength(created);
    expect([...deletedIds, ...stored].sort((a, b) => a - b)).toEqual([...createdIds].sort((a, b) => a - b));
    expect(emulatorUsers(stack)).toEqual(stored);
  });
});
