import { completeWebview } from '../../emulator/index.js';
import { connectBank, freshUser, listConnections } from '../helpers/api.js';
import type { Browser, Hop } from '../helpers/browser.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;

const newUser = (): { userId: string; b: Browser } => freshUser(stack, {});

/** Asserts a 302 to the emulator's webview for `flow` and returns its parameters. */
function webviewParams(hop: Hop, flow: 'reconnect' | 'manage'): URLSearchParams {
  expect(hop.status).toBe(302);
  const target = new URL(hop.location ?? '');
  expect(`${target.origin}${target.pathname}`).toBe(`${stack.emulator.url}/en/${flow}`);
  expect(hop.headers.get('cache-control')).toBe('no-store');
  expect(hop.headers.get('referrer-policy')).toBe('no-referrer');
  return target.searchParams;
}

function expectPage(hop: Hop, status: number): void {
  expect(hop.status).toBe(status);
  expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
}

describe('GET /reconnect/:connectionId', () => {
  test('opens the reconnect webview with a fresh single-use code, a state and the connection id', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    const before = knobs().calls('token.code');
    const first = webviewParams(await b.get(`/reconnect/${id}`), 'reconnect');
    const second = webviewParams(await b.get(`/reconnect/${id}`), 'reconnect');
    expect(knobs().calls('token.code')).toBe(before + 2);

    for (const p of [first, second]) {
      expect(p.get('domain')).toBe(stack.config.powens.domain);
      expect(p.get('client_id')).toBe(stack.config.powens.clientId);
      expect(p.get('redirect_uri')).toBe(`${stack.url}/callback`);
      expect(p.get('connection_id')).toBe(String(id));
      expect(p.get('code')).toMatch(/.{8,}/);
      expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(p.has('client_secret')).toBe(false);
    }
    expect(second.get('code')).not.toBe(first.get('code'));
    expect(second.get('state')).not.toBe(first.get('state'));
  });

  test('the temporary code works once: the webview refuses it a second time', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    const hop = await b.get(`/reconnect/${id}`);
    await completeWebview(hop.location ?? '', { kind: 'reconnect' });
    await expect(completeWebview(hop.location ?? '', { kind: 'reconnect' })).rejects.toThrow(/already been used/);
  });

  test('repairs the connection and returns to return_to with the connection id', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().setConnectionState(id, 'SCARequired', 'Confirm in your banking app.');
    expect((await listConnections(b)).connections[0]?.status).toBe('action_needed');

    const hop = await b.get(`/reconnect/${id}?return_to=/accounts`);
    const back = await completeWebview(hop.location ?? '', { kind: 'reconnect' });
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    expect(cb.location).toBe(`/accounts?connection_id=${id}`);
    expect((await listConnections(b)).connections[0]).toEqual(expect.objectContaining({ id, status: 'ok', reconnectUrl: null }));
  });

  test('a callback with only the state (as Powens sends for a reconnect) still returns with the connection id', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    const hop = await b.get(`/reconnect/${id}`);
    const back = await completeWebview(hop.location ?? '', { kind: 'reconnect' });
    const stateOnly = new URL('/callback', stack.url);
    stateOnly.searchParams.set('state', back.searchParams.get('state') ?? '');
    const cb = await b.get(stateOnly.href);
    expect(cb.status).toBe(303);
    expect(cb.location).toBe(`/?connection_id=${id}`);
    // Single use: the same callback again (a reload) only says it is done, and links back.
    const callsBefore = knobs().calls();
    const reload = await b.get(stateOnly.href);
    expectPage(reload, 200);
    expect(reload.text).toContain('<h1>Your bank is reconnected</h1>');
    expect(reload.text).toContain(`data-action="back" href="/?connection_id=${id}"`);
    expect(knobs().calls()).toBe(callsBefore);
  });

  test('cancelling in the webview shows the error page with a link to try the reconnect again', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    const hop = await b.get(`/reconnect/${id}`);
    const back = await completeWebview(hop.location ?? '', { kind: 'cancel' });
    const page = await b.get(back.href);
    expectPage(page, 400);
    expect(page.text).toContain(`href="/reconnect/${id}"`);
  });

  test("another user's connection is a 404 page, checked before any code is issued", async () => {
    const owner = newUser();
    const id = await connectBank(owner.b);
    const other = newUser();
    await connectBank(other.b);
    knobs().reset();
    const hop = await other.b.get(`/reconnect/${id}`);
    expectPage(hop, 404);
    expect(hop.location).toBeUndefined();
    expect(knobs().calls('token.code')).toBe(0);
    expect(hop.text).not.toContain('code=');
  });

  test.each(['abc', '0', '12abc', '99999999999999999999'])(
    'a connection id that is not a Powens id (%s) is a 404 page and Powens is not asked',
    async (raw) => {
      const { b } = newUser();
      await connectBank(b);
      knobs().reset();
      expectPage(await b.get(`/reconnect/${encodeURIComponent(raw)}`), 404);
      expect(knobs().calls()).toBe(0);
    },
  );

  test('a user with no Powens token gets the page saying there is nothing to reconnect', async () => {
    const { b } = newUser();
    const hop = await b.get('/reconnect/123');
    expectPage(hop, 409);
    expect(hop.text).toContain('nothing to reconnect or manage');
    expect(hop.text).toContain('href="/connect"');
    expect(knobs().calls('token.code')).toBe(0);
  });

  test('a user whose token Powens refuses gets the same page, and the token is dropped', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().fail('connections.get', { status: 401, times: 1 });
    const hop = await b.get(`/reconnect/${id}`);
    expectPage(hop, 409);
    expect(await listConnections(b)).toEqual({ linked: false, connections: [] });
  });

  test('without a user it is the 401 page, not a webview', async () => {
    const hop = await stack.browser().get('/reconnect/1');
    expectPage(hop, 401);
  });
});

describe('GET /manage', () => {
  test('opens the manage webview with a fresh single-use code and a state', async () => {
    const { b } = newUser();
    await connectBank(b);
    const first = webviewParams(await b.get('/manage'), 'manage');
    const second = webviewParams(await b.get('/manage'), 'manage');
    for (const p of [first, second]) {
      expect(p.get('code')).toMatch(/.{8,}/);
      expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{22,}$/);
      expect(p.get('redirect_uri')).toBe(`${stack.url}/callback`);
      expect(p.has('connection_id')).toBe(false);
    }
    expect(second.get('code')).not.toBe(first.get('code'));
    expect(second.get('state')).not.toBe(first.get('state'));
  });

  test('returns to return_to when the user is done, and what was removed there is gone', async () => {
    const { b } = newUser();
    const keep = await connectBank(b);
    const removed = await connectBank(b);
    const hop = await b.get('/manage?return_to=/settings');
    const back = await completeWebview(hop.location ?? '', { kind: 'manage-delete', connectionId: removed });
    expect([...back.searchParams.keys()]).toEqual(['state']);
    const cb = await b.get(back.href);
    expect(cb.status).toBe(303);
    expect(cb.location).toBe('/settings');
    expect((await listConnections(b)).connections.map((c) => c.id)).toEqual([keep]);
  });

  test('an unsafe return_to falls back to /', async () => {
    const { b } = newUser();
    await connectBank(b);
    const hop = await b.get('/manage?return_to=//evil.example');
    const back = await completeWebview(hop.location ?? '', { kind: 'manage-done' });
    const cb = await b.get(back.href);
    expect(cb.location).toBe('/');
  });

  test('a user with no Powens token gets the page saying there is nothing to manage, and no code is asked for', async () => {
    const { b } = newUser();
    const hop = await b.get('/manage');
    expectPage(hop, 409);
    expect(hop.text).toContain('nothing to reconnect or manage');
    expect(knobs().calls('token.code')).toBe(0);
  });

  test('Powens failing to issue a code is a 502 page with a try-again link', async () => {
    const { b } = newUser();
    await connectBank(b);
    knobs().fail('token.code', { status: 500 });
    const hop = await b.get('/manage');
    expectPage(hop, 502);
    expect(hop.text).toContain('href="/manage"');
  });
});
