import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview, DEFAULT_CLIENT, startEmulator, TEST_CONNECTOR_UUID, type RunningEmulator } from '../../emulator/index.js';
import { waitFor } from '../helpers/wait.js';

const DOMAIN = 'demo-sandbox.biapi.pro';
const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
const REDIRECT_URI = 'http://localhost:3999/callback';
const POWENS_DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({
    port: 0,
    clients: [
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI, 'http://127.0.0.1:*'] },
      { clientId: 'other-client', clientSecret: 'other-secret', redirectUris: ['http://other.test/cb'] },
    ],
  });
});

afterAll(async () => {
  await emu.close();
});

beforeEach(() => {
  emu.emulator.knobs.resetAll();
});

function webviewUrl(flow: 'connect' | 'reconnect' | 'manage', params: Record<string, string>): string {
  const query = new URLSearchParams({ domain: DOMAIN, client_id: CLIENT_ID, ...params });
  return `${emu.webviewUrl}/en/${flow}?${query.toString()}`;
}

interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
}

async function api(
  method: string,
  path: string,
  options: { token?: string; json?: Record<string, unknown>; form?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const res = await fetch(`${emu.apiUrl}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function exchange(code: string, extra: Record<string, string> = {}): Promise<JsonAnswer> {
  return api('POST', '/auth/token/access', {
    json: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code, ...extra },
  });
}

/** Connects a new user through the webview and exchanges the code: the user's token. */
async function connectNewUser(state = 'st'): Promise<{ token: string; connectionId: number }> {
  const callback = await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, state }), { kind: 'connect' });
  const code = callback.searchParams.get('code');
  if (code === null) throw new Error('no code');
  const answer = await exchange(code);
  return { token: String(answer.body['auth_token']), connectionId: Number(callback.searchParams.get('connection_id')) };
}

async function temporaryCode(token: string, type = 'singleAccess'): Promise<string> {
  const answer = await api('GET', `/auth/token/code?type=${type}`, { token });
  return String(answer.body['code']);
}

describe('connect through the webview', () => {
  it('creates a user and a connection, and the callback code exchanges for a token', async () => {
    const callback = await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, state: 'xyz' }), {
      kind: 'connect',
    });
    expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('state')).toBe('xyz');
    const code = callback.searchParams.get('code');
    const connectionId = Number(callback.searchParams.get('connection_id'));
    expect(code).toEqual(expect.any(String));
    expect(connectionId).toBeGreaterThan(0);

    const token = await exchange(code ?? '', { grant_type: 'authorization_code', redirect_uri: REDIRECT_URI });
    expect(token.status).toBe(200);
    expect(token.body).toEqual({
      auth_token: expect.any(String),
      access_token: token.body['auth_token'],
      token_type: 'Bearer',
      type: 'permanent',
    });
    const bearer = String(token.body['auth_token']);
    expect(bearer).not.toBe(code);

    const me = await api('GET', '/users/me', { token: bearer });
    expect(me.status).toBe(200);
    expect(me.body['platform']).toBe('emulator');
    expect(me.body['signin']).toMatch(POWENS_DATE);

    const list = await api('GET', '/users/me/connections?expand=connector', { token: bearer });
    expect(list.status).toBe(200);
    expect(list.body['total']).toBe(1);
    const connections = list.body['connections'] as Record<string, unknown>[];
    expect(connections[0]).toMatchObject({
      id: connectionId,
      id_user: me.body['id'],
      id_connector: 59,
      state: null,
      error: null,
      error_message: null,
      active: true,
      expire: null,
      connector: { id: 59, name: 'Demo Bank', uuid: expect.any(String) },
    });
    expect(emu.emulator.state.findUserByToken(bearer)?.connectionIds).toEqual([connectionId]);

    const one = await api('GET', `/users/me/connections/${connectionId}`, { token: bearer });
    expect(one.body['connector']).toBeUndefined();
    expect(one.body['connector_uuid']).toBe(connections[0]?.['connector_uuid']);
  });

  it('hands out codes that work once only, for the client and redirect_uri they were issued for', async () => {
    const url = webviewUrl('connect', { redirect_uri: REDIRECT_URI });
    const first = (await completeWebview(url, { kind: 'connect' })).searchParams.get('code') ?? '';
    expect((await exchange(first)).status).toBe(200);
    const again = await exchange(first);
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ code: 'invalidValue', request_id: expect.any(String) });

    const second = (await completeWebview(url, { kind: 'connect' })).searchParams.get('code') ?? '';
    expect((await exchange(second, { redirect_uri: 'http://127.0.0.1:1/elsewhere' })).status).toBe(400);
    const otherClient = await api('POST', '/auth/token/access', {
      json: { client_id: 'other-client', client_secret: 'other-secret', code: second },
    });
    expect(otherClient.status).toBe(400);
    // Neither misuse burnt the code for its rightful owner.
    expect((await exchange(second, { redirect_uri: REDIRECT_URI })).status).toBe(200);
  });

  it('refuses a wrong client secret or a missing parameter, with Powens error JSON', async () => {
    const code = (await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI }), { kind: 'connect' })).searchParams.get('code') ?? '';
    const wrong = await api('POST', '/auth/token/access', {
      form: { client_id: CLIENT_ID, client_secret: 'nope', code },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({
      code: 'invalidClient',
      description: expect.any(String),
      message: expect.any(String),
      request_id: expect.any(String),
    });
    const missing = await api('POST', '/auth/token/access', { form: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } });
    expect(missing.status).toBe(400);
    expect(missing.body['code']).toBe('missingParameter');
    // Form-encoded bodies are accepted too, and the code survived the failures.
    const ok = await api('POST', '/auth/token/access', { form: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code } });
    expect(ok.status).toBe(200);
  });

  it('shows an error page, and never redirects, for an unlisted redirect_uri', async () => {
    const url = webviewUrl('connect', { redirect_uri: 'https://evil.example/callback', state: 's' });
    const page = await fetch(url, { redirect: 'manual' });
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(await page.text()).toContain('not white-listed');
    await expect(completeWebview(url, { kind: 'connect' })).rejects.toThrow(/400.*white-listed/);

    // Posting the form directly is refused the same way.
    const post = await fetch(`${emu.webviewUrl}/en/connect`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        domain: DOMAIN,
        client_id: CLIENT_ID,
        redirect_uri: 'http://127.0.0.1:1@evil.example/cb',
        action: 'cancel',
      }).toString(),
    });
    expect(post.status).toBe(400);
    expect(post.headers.get('location')).toBeNull();
    await post.text();
  });

  it('refuses a wrong domain or client_id, and answers 503 on the bare path', async () => {
    await expect(completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, domain: 'other.biapi.pro' }), { kind: 'connect' })).rejects.toThrow(
      /400.*domain/,
    );
    await expect(completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, client_id: 'nobody' }), { kind: 'connect' })).rejects.toThrow(
      /400.*client_id/,
    );
    const bare = await fetch(`${emu.url}/connect?domain=${DOMAIN}`);
    expect(bare.status).toBe(503);
    await bare.text();
  });

  it('returns access_denied on cancel and tos_declined on decline, with the state untouched', async () => {
    const state = 'a b&c=d/é+%';
    const url = webviewUrl('connect', { redirect_uri: 'http://127.0.0.1:5555/cb?tab=1', state });
    const cancelled = await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, state }), { kind: 'cancel' });
    expect(cancelled.searchParams.get('error')).toBe('access_denied');
    expect(cancelled.searchParams.get('error_description')).toBe('User cancelled');
    expect(cancelled.searchParams.get('state')).toBe(state);
    expect(cancelled.search).toContain('error_description=User+cancelled');
    expect(cancelled.searchParams.has('code')).toBe(false);

    const declined = await completeWebview(url, { kind: 'decline' });
    expect(declined.searchParams.get('tab')).toBe('1');
    expect(declined.searchParams.get('error')).toBe('tos_declined');
    expect(declined.searchParams.get('state')).toBe(state);
    expect(emu.emulator.state.users()).toEqual([]);
  });

  it('adds the connection to the user of a temporary code, returns no code, and refuses the code again', async () => {
    const { token } = await connectNewUser();
    const code = await temporaryCode(token, 'singleAccess');
    const url = webviewUrl('connect', { redirect_uri: REDIRECT_URI, code, state: 'two' });
    const callback = await completeWebview(url, {
      kind: 'connect',
      connectorId: 40,
      login: 'SCARequired',
      password: 'x',
    });
    expect(callback.searchParams.has('code')).toBe(false);
    expect(callback.searchParams.get('state')).toBe('two');
    const connectionId = Number(callback.searchParams.get('connection_id'));

    const list = await api('GET', '/users/me/connections?expand=connector', { token });
    const connections = list.body['connections'] as Record<string, unknown>[];
    expect(connections).toHaveLength(2);
    expect(connections[1]).toMatchObject({
      id: connectionId,
      connector_uuid: TEST_CONNECTOR_UUID,
      state: 'SCARequired',
      error: 'SCARequired',
      connector: { id: 40, name: 'Connecteur de test' },
    });
    expect(emu.emulator.state.users()).toHaveLength(1);

    await expect(completeWebview(url, { kind: 'connect' })).rejects.toThrow(/400.*already been used/);
  });
});

describe('reconnect and manage', () => {
  it('reconnect clears a state set by the knob', async () => {
    const { token, connectionId } = await connectNewUser();
    emu.emulator.knobs.setConnectionState(connectionId, 'wrongpass', 'Bad password');
    const before = await api('GET', `/users/me/connections/${connectionId}`, { token });
    expect(before.body).toMatchObject({ state: 'wrongpass', error: 'wrongpass', error_message: 'Bad password' });

    const code = await temporaryCode(token);
    const callback = await completeWebview(webviewUrl('reconnect', { redirect_uri: REDIRECT_URI, code, connection_id: String(connectionId), state: 'r' }), {
      kind: 'reconnect',
    });
    expect(callback.searchParams.get('connection_id')).toBe(String(connectionId));
    expect(callback.searchParams.get('state')).toBe('r');
    expect(callback.searchParams.has('code')).toBe(false);
    const after = await api('GET', `/users/me/connections/${connectionId}`, { token });
    expect(after.body).toMatchObject({ state: null, error: null, error_message: null });
  });

  it('reconnect refuses a connection of another user', async () => {
    const a = await connectNewUser();
    const b = await connectNewUser();
    const code = await temporaryCode(a.token);
    await expect(
      completeWebview(webviewUrl('reconnect', { redirect_uri: REDIRECT_URI, code, connection_id: String(b.connectionId) }), { kind: 'reconnect' }),
    ).rejects.toThrow(/400.*connection_id/);
  });

  it('manage removes a connection, then Done returns only the state', async () => {
    const { token, connectionId } = await connectNewUser();
    const code = await temporaryCode(token, 'singleAccess');
    const second = await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI, code }), { kind: 'connect' });
    const keep = Number(second.searchParams.get('connection_id'));
    // The connector's name is markup: the manage page escapes it.
    emu.emulator.knobs.setConnectionField(keep, { connector: { name: '<b>Evil & Co</b>' } });

    const manageCode = await temporaryCode(token, 'singleAccess');
    const url = webviewUrl('manage', { redirect_uri: REDIRECT_URI, code: manageCode, state: 'm' });
    const page = await (await fetch(url)).text();
    expect(page).toContain('&lt;b&gt;Evil &amp; Co&lt;/b&gt;');
    expect(page).not.toContain('<b>Evil');

    const done = await completeWebview(url, { kind: 'manage-delete', connectionId });
    expect([...done.searchParams.keys()]).toEqual(['state']);
    expect(done.searchParams.get('state')).toBe('m');
    const list = await api('GET', '/users/me/connections', { token });
    expect((list.body['connections'] as Record<string, unknown>[]).map((c) => c['id'])).toEqual([keep]);
  });

  it('manage without redirect_uri has no Done button', async () => {
    const { token } = await connectNewUser();
    const code = await temporaryCode(token, 'requestAccess');
    const url = webviewUrl('manage', { code });
    const page = await (await fetch(url)).text();
    expect(page).not.toContain('value="done"');
    await expect(completeWebview(url, { kind: 'manage-done' })).rejects.toThrow(/no "done" button/);
  });

  it('serves a stylesheet and pages without script or inline style', async () => {
    const page = await fetch(webviewUrl('connect', { redirect_uri: REDIRECT_URI, state: '"><script>alert(1)</script>' }));
    const html = await page.text();
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html).not.toMatch(/<script|style=/i);
    expect(html).toContain('Powens emulator');
    expect(html).toContain('Demo Bank');
    expect(html).toContain('Connecteur de test');
    const css = await fetch(`${emu.url}/static/webview.css`);
    expect(css.headers.get('content-type')).toMatch(/text\/css/);
    expect((await css.text()).length).toBeGreaterThan(100);
  });
});

describe('API', () => {
  it('answers 401 invalidToken for a missing, unknown or revoked token', async () => {
    expect((await api('GET', '/users/me')).body['code']).toBe('invalidToken');
    expect((await api('GET', '/users/me', { token: 'nope' })).status).toBe(401);
    const init = await api('POST', '/auth/init', { json: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } });
    expect(init.body).toEqual({ auth_token: expect.any(String), type: 'permanent', id_user: expect.any(Number), expires_in: null });
    const token = String(init.body['auth_token']);
    expect((await api('GET', '/users/me', { token })).body['id']).toBe(init.body['id_user']);
    expect((await api('DELETE', '/auth/token', { token })).status).toBe(204);
    const revoked = await api('GET', '/users/me', { token });
    expect(revoked.status).toBe(401);
    expect(revoked.body).toMatchObject({ code: 'invalidToken', request_id: expect.any(String) });
  });

  it('issues temporary codes and deletes connections and users', async () => {
    const { token, connectionId } = await connectNewUser();
    const code = await api('GET', '/auth/token/code?type=singleAccess', { token });
    expect(code.body).toEqual({ code: expect.any(String), type: 'temporary', access: 'single', expires_in: expect.any(Number) });
    const standard = await api('GET', '/auth/token/code', { token });
    expect(standard.body).toMatchObject({ access: 'standard', expires_in: 1800 });

    const other = await connectNewUser();
    expect((await api('GET', `/users/me/connections/${other.connectionId}`, { token })).body['code']).toBe('connectionNotFound');
    expect((await api('DELETE', `/users/me/connections/${other.connectionId}`, { token })).status).toBe(404);
    expect((await api('DELETE', `/users/me/connections/${connectionId}`, { token })).status).toBe(204);
    expect((await api('DELETE', `/users/me/connections/${connectionId}`, { token })).status).toBe(404);

    const secondToken = String(
      (await exchange((await completeWebview(webviewUrl('connect', { redirect_uri: REDIRECT_URI }), { kind: 'connect' })).searchParams.get('code') ?? '')).body[
        'auth_token'
      ],
    );
    expect((await api('DELETE', '/users/me', { token: secondToken })).status).toBe(204);
    expect((await api('GET', '/users/me', { token: secondToken })).status).toBe(401);
    expect(emu.emulator.state.users()).toHaveLength(2);
  });

  it('creates a temporary user and token with /auth/init without the client credentials; refuses one credential alone', async () => {
    const init = await api('POST', '/auth/init', { json: {} });
    expect(init.body).toEqual({ auth_token: expect.any(String), type: 'temporary', id_user: expect.any(Number), expires_in: 1800 });
    expect((await api('GET', '/users/me', { token: String(init.body['auth_token']) })).body['id']).toBe(init.body['id_user']);
    expect((await api('POST', '/auth/init', { json: { client_id: CLIENT_ID } })).body['code']).toBe('missingParameter');
    expect((await api('POST', '/auth/init', { json: { client_id: CLIENT_ID, client_secret: 'wrong' } })).status).toBe(401);
  });

  it('exchanges a temporary code for a permanent token: a singleAccess code once, a requestAccess one until it expires', async () => {
    const { token } = await connectNewUser();
    const me = (await api('GET', '/users/me', { token })).body['id'];
    const single = await temporaryCode(token, 'singleAccess');
    const first = await exchange(single);
    expect(first.status).toBe(200);
    expect((await api('GET', '/users/me', { token: String(first.body['access_token']) })).body['id']).toBe(me);
    expect((await exchange(single)).status).toBe(400);
    const standard = await temporaryCode(token, 'requestAccess');
    expect((await exchange(standard)).status).toBe(200);
    expect((await exchange(standard)).status).toBe(200);
  });

  it('formats dates as YYYY-MM-DD HH:MM:SS without zone, as Paris wall-clock time by default', async () => {
    const fixed = await startEmulator({ port: 0, now: () => new Date('2026-11-24T10:00:00.123Z') });
    try {
      const init = await fetch(`${fixed.apiUrl}/auth/init`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: DEFAULT_CLIENT.clientId, client_secret: DEFAULT_CLIENT.clientSecret }),
      });
      const token = String(((await init.json()) as Record<string, unknown>)['auth_token']);
      const me = (await (await fetch(`${fixed.apiUrl}/users/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
      // 10:00 UTC in November is 11:00 in Paris (UTC+1).
      expect(me['signin']).toBe('2026-11-24 11:00:00');
      const { connectionIds } = fixed.emulator.knobs.addUser();
      const connection = fixed.emulator.state.connection(connectionIds[0] ?? 0);
      expect(connection?.last_update).toBe('2026-11-24 11:00:00');
      expect(connection?.created).toBe('2026-11-24 11:00:00');
      expect(connection?.next_try).toMatch(POWENS_DATE);
      // July: UTC+2.
      fixed.emulator.knobs.setConnectionField(connectionIds[0] ?? 0, { expire: new Date('2027-07-02T03:04:05Z') });
      expect(fixed.emulator.state.connection(connectionIds[0] ?? 0)?.expire).toBe('2027-07-02 05:04:05');
      fixed.emulator.knobs.setConnectionField(connectionIds[0] ?? 0, { expire: '2027-01-02 03:04:05 +0100' });
      expect(fixed.emulator.state.connection(connectionIds[0] ?? 0)?.expire).toBe('2027-01-02 03:04:05 +0100');
    } finally {
      await fixed.close();
    }
  });

  it('writes its dates in the time zone it is given', async () => {
    const utc = await startEmulator({ port: 0, now: () => new Date('2026-11-24T10:00:00.123Z'), timeZone: 'UTC' });
    const tokyo = await startEmulator({ port: 0, now: () => new Date('2026-11-24T10:00:00.123Z'), timeZone: 'Asia/Tokyo' });
    try {
      expect(utc.emulator.state.connection(utc.emulator.knobs.addUser().connectionIds[0] ?? 0)?.created).toBe('2026-11-24 10:00:00');
      expect(tokyo.emulator.state.connection(tokyo.emulator.knobs.addUser().connectionIds[0] ?? 0)?.created).toBe('2026-11-24 19:00:00');
    } finally {
      await utc.close();
      await tokyo.close();
    }
    await expect(startEmulator({ port: 0, timeZone: 'Mars/Olympus' })).rejects.toThrow(/time zone/);
  });
});

describe('knobs', () => {
  it('fail answers the status with a Powens error, for the given number of times', async () => {
    emu.emulator.knobs.fail('auth.init', { status: 503, times: 1 });
    const creds = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET };
    const failed = await api('POST', '/auth/init', { json: creds });
    expect(failed.status).toBe(503);
    expect(failed.body).toMatchObject({ code: expect.any(String), request_id: expect.any(String) });
    expect((await api('POST', '/auth/init', { json: creds })).status).toBe(200);

    emu.emulator.knobs.fail('users.me', { status: 500, body: { code: 'bug', message: 'custom' } });
    expect((await api('GET', '/users/me')).body).toEqual({ code: 'bug', message: 'custom' });
    expect((await api('GET', '/users/me')).status).toBe(500);
    emu.emulator.knobs.reset();
    expect((await api('GET', '/users/me')).status).toBe(401);
  });

  it('fail leaves the data untouched', async () => {
    const { token, connectionId } = await connectNewUser();
    const before = emu.emulator.state.snapshot();
    emu.emulator.knobs.fail('connections.delete', { status: 500 });
    expect((await api('DELETE', `/users/me/connections/${connectionId}`, { token })).status).toBe(500);
    expect(emu.emulator.state.snapshot()).toEqual(before);
  });

  it('hang never answers, until the client gives up', async () => {
    emu.emulator.knobs.hang('users.me', { times: 1 });
    await expect(api('GET', '/users/me', { signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect((await api('GET', '/users/me')).status).toBe(401);
    expect(emu.emulator.knobs.calls('users.me')).toBe(2);
  });

  it('delay answers late', async () => {
    emu.emulator.knobs.delay('users.me', 120, { times: 1 });
    const started = Date.now();
    expect((await api('GET', '/users/me')).status).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('malformed answers 200 JSON that does not parse', async () => {
    emu.emulator.knobs.malformed('token.access');
    const res = await fetch(`${emu.apiUrl}/auth/token/access`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const text = await res.text();
    expect(text.startsWith('{"auth_tok')).toBe(true);
    expect(() => JSON.parse(text) as unknown).toThrow();
  });

  it('counts calls per endpoint', async () => {
    await Promise.all(Array.from({ length: 5 }, () => api('GET', '/users/me')));
    expect(emu.emulator.knobs.calls('users.me')).toBe(5);
    expect(emu.emulator.knobs.calls('token.access')).toBe(0);
    expect(emu.emulator.knobs.calls()).toBe(5);
  });

  it('is driven over HTTP under /__emulator', async () => {
    const control = async (path: string, body?: unknown): Promise<Response> =>
      fetch(`${emu.url}/__emulator${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const { token, connectionId } = await connectNewUser();
    expect((await control('/fail', { endpoint: 'users.me', status: 429, times: 1 })).status).toBe(204);
    expect((await api('GET', '/users/me', { token })).status).toBe(429);
    expect((await control('/fail', { endpoint: 'nope', status: 500 })).status).toBe(400);
    expect((await control(`/connections/${connectionId}/state`, { state: 'SCARequired', error_message: 'Confirm' })).status).toBe(204);
    expect((await api('GET', `/users/me/connections/${connectionId}`, { token })).body['state']).toBe('SCARequired');
    const calls = (await (await control('/calls')).json()) as { calls: Record<string, number> };
    expect(calls.calls['users.me']).toBe(1);
    const snapshot = (await (await control('/snapshot')).json()) as { users: { connections: { state: string }[]; tokens: number }[] };
    expect(snapshot.users[0]?.connections[0]?.state).toBe('SCARequired');
    expect(snapshot.users[0]?.tokens).toBe(1);
    expect((await control('/reset', {})).status).toBe(204);
    expect(emu.emulator.knobs.calls()).toBe(0);
  });
});

describe('server', () => {
  it('counts the TCP connections it accepts', async () => {
    const before = emu.connectionsAccepted();
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(`${emu.url}/static/webview.css`, { agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    await get();
    await get();
    await get();
    expect(emu.connectionsAccepted() - before).toBe(3);
  });

  it('closes with a request still hanging', async () => {
    const other = await startEmulator({ port: 0 });
    other.emulator.knobs.hang('users.me');
    const pending = fetch(`${other.apiUrl}/users/me`).then(
      () => 'answered',
      () => 'failed',
    );
    await waitFor(() => other.emulator.knobs.calls('users.me') === 1, { timeoutMs: 2000, what: 'the hanging GET /users/me to reach the emulator' });
    await other.close();
    expect(await pending).toBe('failed');
  });

  it('answers GET /healthz for the container healthcheck, counted as no API call', async () => {
    const res = await fetch(`${emu.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(emu.emulator.knobs.calls()).toBe(0);
  });
});
