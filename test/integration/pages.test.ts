import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { completeWebview } from '../../emulator/index.js';
import { t } from '../../src/i18n/index.js';
import type { Hop } from '../helpers/browser.js';
import { expectErrorPage, pageLinks } from '../helpers/pages.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

/**
 * The pages a person meets (docs/REFERENCE.md, "Pages"): with the app's frontend on another
 * origin (RETURN_TO_ORIGINS), every flow ends there, every error page leads back there, "try
 * again" is there only where it can help and says what it does, and the pages speak the
 * browser's language.
 */

const APP = 'https://app.example.com';
const LANDING = `${APP}/`;
const FR = { 'accept-language': 'fr-FR,fr;q=0.9,en;q=0.5' };

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { RETURN_TO_ORIGINS: `${APP},http://app.localhost:5173` } });
});
afterAll(async () => {
  stack.testRedis.resume();
  await stack.close();
});

let users = 0;
const user = (name: string): string => `${name}-${++users}`;

/** A signed-in browser that connected a bank; the callback's redirect. */
async function connected(userId: string, path = '/connect'): Promise<{ b: ReturnType<Stack['browser']>; hop: Hop }> {
  const b = stack.browser(userId);
  const back = await completeWebview(await startConnect(b, path), { kind: 'connect' });
  return { b, hop: await b.get(back.href) };
}

describe('a frontend on another origin (RETURN_TO_ORIGINS)', () => {
  it('gets its user back on the page it named, with the connection id', async () => {
    const { hop } = await connected(user('app-page'), `/connect?return_to=${encodeURIComponent(`${APP}/banks?tab=linked`)}`);
    expect(hop.status).toBe(303);
    expect(hop.location).toMatch(new RegExp(`^${APP}/banks\\?tab=linked&connection_id=\\d+$`));
  });

  it('lands on the first of those origins when the flow named no way back, or a refused one', async () => {
    for (const returnTo of [undefined, 'https://evil.example/', 'https://app.example.com@evil.example/']) {
      const path = returnTo === undefined ? '/connect' : `/connect?return_to=${encodeURIComponent(returnTo)}`;
      const { hop } = await connected(user('default-landing'), path);
      expect({ returnTo, location: hop.location?.replace(/\d+$/, 'N') }).toEqual({ returnTo, location: `${LANDING}?connection_id=N` });
    }
  });

  it('accepts a listed http origin outside production (a loopback development setup)', async () => {
    const { hop } = await connected(user('dev-origin'), `/connect?return_to=${encodeURIComponent('http://app.localhost:5173/done')}`);
    expect(hop.location).toMatch(/^http:\/\/app\.localhost:5173\/done\?connection_id=\d+$/);
  });
});

describe('every error page has a way back to the app', () => {
  it('a cancelled flow: back to the page the app named, and "Start again" with the same way back', async () => {
    const returnTo = `${APP}/banks`;
    const b = stack.browser(user('cancel'));
    const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent(returnTo)}`), { kind: 'cancel' });
    const page = await b.get(back.href);
    expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_CANCELLED', back: returnTo, retry: `/connect?return_to=${encodeURIComponent(returnTo)}` });
    expect(page.text).toContain('>Back to the app</a>');
    expect(page.text).toContain('>Start again</a>');
    // The same header as the other pages.
    expect(page.text).toContain('<header class="topbar">');
  });

  it('a failed reconnect offers "Reconnect"', async () => {
    const { b, hop } = await connected(user('reconnect-cancel'));
    const id = /connection_id=(\d+)/.exec(hop.location ?? '')?.[1] ?? '';
    const back = await completeWebview(await startConnect(b, `/reconnect/${id}`), { kind: 'cancel' });
    const page = await b.get(back.href);
    expectErrorPage(stack, page, {
      status: 400,
      errorCode: 'FLOW_CANCELLED',
      back: LANDING,
      retry: `/reconnect/${id}?return_to=${encodeURIComponent(LANDING)}`,
    });
    expect(page.text).toContain('>Reconnect</a>');
  });

  it('no bank linked offers "Add a connection", keeping the way back', async () => {
    const page = await stack.browser(user('not-linked')).get(`/manage?return_to=${encodeURIComponent(`${APP}/settings`)}`);
    expectErrorPage(stack, page, {
      status: 409,
      errorCode: 'NOT_LINKED',
      back: `${APP}/settings`,
      retry: `/connect?return_to=${encodeURIComponent(`${APP}/settings`)}`,
    });
    expect(page.text).toContain('>Add a connection</a>');
  });

  it('an unknown connection, an unknown page and no user: the way back and no "try again"', async () => {
    const { b } = await connected(user('nothing-to-retry'));
    expectErrorPage(stack, await b.get('/reconnect/999999'), { status: 404, errorCode: 'CONNECTION_NOT_FOUND', back: LANDING, retry: undefined });
    expectErrorPage(stack, await b.get('/nowhere', { accept: 'text/html' }), { status: 404, errorCode: 'NOT_FOUND', back: LANDING, retry: undefined });
    expectErrorPage(stack, await stack.browser().get('/connect'), { status: 401, errorCode: 'USER_REQUIRED', back: LANDING, retry: undefined });
  });

  it('a callback whose flow is unknown can only add a connection', async () => {
    const b = stack.browser(user('unknown-flow'));
    await startConnect(b);
    expectErrorPage(stack, await b.get('/callback?state=forged&code=x'), { status: 400, errorCode: 'STATE_INVALID', back: LANDING, retry: '/connect' });
  });

  it('503 (Redis not answering): the way back, and "Start again"', async () => {
    const b = stack.browser(user('redis-away'));
    // Frozen, not stopped: every command times out (503) and the connection is still there after.
    stack.testRedis.pause();
    try {
      const page = await b.get(`/connect?return_to=${encodeURIComponent(`${APP}/banks`)}`);
      expectErrorPage(stack, page, {
        status: 503,
        errorCode: 'STORE_UNAVAILABLE',
        back: `${APP}/banks`,
        retry: `/connect?return_to=${encodeURIComponent(`${APP}/banks`)}`,
      });
    } finally {
      stack.testRedis.resume();
    }
  });
});

describe('the webview reports session_expired', () => {
  it('is a page of its own: the webview was left idle too long', async () => {
    const b = stack.browser(user('idle'));
    const state = new URL(await startConnect(b)).searchParams.get('state') ?? '';
    const page = await b.get(`/callback?state=${encodeURIComponent(state)}&error=session_expired&error_description=${encodeURIComponent('Session expired')}`);
    expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_SESSION_EXPIRED', back: LANDING, retry: `/connect?return_to=${encodeURIComponent(LANDING)}` });
    expect(page.text).toContain(t('en', 'error.FLOW_SESSION_EXPIRED.message'));
  });
});

describe('a reload of a callback that succeeded', () => {
  it('says the bank is connected and links back to where the flow went', async () => {
    const b = stack.browser(user('reload'));
    const back = await completeWebview(await startConnect(b, `/connect?return_to=${encodeURIComponent(`${APP}/banks`)}`), { kind: 'connect' });
    const first = await b.get(back.href);
    const reload = await b.get(back.href);
    expect(reload.status).toBe(200);
    expect(reload.text).toContain(`<h1>${t('en', 'flow.done.connect')}</h1>`);
    expect(pageLinks(reload)).toEqual({ back: first.location, retry: undefined });
    // In French for a French browser.
    const again = await b.get(back.href, FR);
    expect(again.text).toContain(`<h1>${t('fr', 'flow.done.connect')}</h1>`);
  });
});

describe('in French', () => {
  it('an error page speaks the browser’s language, header, buttons and reference included', async () => {
    const b = stack.browser(user('fr'), FR);
    const back = await completeWebview(await startConnect(b), { kind: 'cancel' });
    const page = await b.get(back.href);
    expectErrorPage(stack, page, { status: 400, errorCode: 'FLOW_CANCELLED', back: LANDING, retry: `/connect?return_to=${encodeURIComponent(LANDING)}` });
    expect(page.headers.get('content-language')).toBe('fr');
    expect(page.text).toContain('<html lang="fr">');
    expect(page.text).toContain(`<h1>${t('fr', 'error.FLOW_CANCELLED.title')}</h1>`);
    expect(page.text).toContain(`>${t('fr', 'page.back')}</a>`);
    expect(page.text).toContain(`>${t('fr', 'page.retry.connect')}</a>`);
    expect(page.text).toContain(`>${t('fr', 'page.brand')}</span>`);
    expect(page.text).toContain('Référence\u00a0: <code>');
  });

  it('the webview opens in French too', async () => {
    expect(new URL(await startConnect(stack.browser(user('fr-webview'), FR))).pathname).toBe('/fr/connect');
  });

  it('problem+json stays English for machines, with its code', async () => {
    const hop = await stack.browser(undefined, FR).get('/me/connections');
    expect(hop.status).toBe(401);
    expect(JSON.parse(hop.text)).toMatchObject({ code: 'USER_REQUIRED', title: t('en', 'error.USER_REQUIRED.title') });
  });

  it('message in /me/connections is a sentence in the request’s language, from the same cached list', async () => {
    const userId = user('messages');
    const { b, hop } = await connected(userId);
    const id = Number(/connection_id=(\d+)/.exec(hop.location ?? '')?.[1]);
    const knobs = stack.emulator.emulator.knobs;
    knobs.setConnectionState(id, 'webauthRequired', 'Redirecting to https://bank.example/openauth?state=abc');
    await stack.built.connections.changed(userId);
    const calls = knobs.calls('connections.list');
    const en = await b.get('/me/connections');
    const fr = await b.get('/me/connections', FR);
    const messageOf = (h: Hop): unknown =>
      (JSON.parse(h.text) as { connections: { id: number; message: unknown }[] }).connections.find((c) => c.id === id)?.message;
    expect(messageOf(en)).toBe(t('en', 'connection.state.webauthRequired'));
    expect(messageOf(fr)).toBe(t('fr', 'connection.state.webauthRequired'));
    expect(fr.headers.get('content-language')).toBe('fr');
    expect(en.text).not.toContain('https://bank.example');
    // One Powens call for both: the cache is per user, the language applied after it.
    expect(knobs.calls('connections.list')).toBe(calls + 1);
  });
});
