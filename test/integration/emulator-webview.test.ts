import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CONNECTORS,
  DEMO_BANK_ID,
  EXPIRING_CONSENT_DAYS,
  MAGIC_LOGINS,
  OTP_CODE,
  parseForms,
  startEmulator,
  TEST_CONNECTOR_ID,
  walkWebview,
  type RunningEmulator,
  type WebviewAction,
} from '../../emulator/index.js';

/**
 * The emulator's webview as a user meets it, over HTTP: a password the bank refuses once, a
 * one-time code, an approval in the banking app, a question, consents that end soon, the French
 * webview, the reconnect that resets credentials, a single bank asked for, and Powens'
 * `GET /connectors`. Each scenario ends by checking what the emulator holds.
 */

const DOMAIN = 'demo-sandbox.biapi.pro';
const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
const REDIRECT_URI = 'http://localhost:3999/callback';
const NOW = new Date('2026-11-24T10:00:00Z');

let emu: RunningEmulator;
const knobs = () => emu.emulator.knobs;
const state = () => emu.emulator.state;

beforeAll(async () => {
  emu = await startEmulator({
    port: 0,
    now: () => NOW,
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI] }],
  });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  knobs().resetAll();
});

function webviewUrl(flow: 'connect' | 'reconnect' | 'manage', params: Record<string, string> = {}, lang = 'en'): string {
  const query = new URLSearchParams({ domain: DOMAIN, client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 'st', ...params });
  return `${emu.webviewUrl}/${lang}/${flow}?${query.toString()}`;
}

async function temporaryCode(token: string): Promise<string> {
  const res = await fetch(`${emu.apiUrl}/auth/token/code?type=singleAccess`, { headers: { authorization: `Bearer ${token}` } });
  return String(((await res.json()) as Record<string, unknown>)['code']);
}

/** Connects through the connect webview: the walk, and the connection made (if any). */
async function connect(action: WebviewAction, params: Record<string, string> = {}, lang = 'en') {
  const walk = await walkWebview(webviewUrl('connect', params, lang), action);
  const id = Number(walk.location.searchParams.get('connection_id'));
  return { walk, connection: Number.isInteger(id) && id > 0 ? state().connection(id) : undefined };
}

/** What the emulator holds: users and their connections' (connector, state, expire). */
function held(): { connections: { connector: number; state: string | null; expire: string | null }[] }[] {
  return state()
    .snapshot()
    .users.map((u) => ({ connections: u.connections.map((c) => ({ connector: c.id_connector, state: c.state, expire: c.expire })) }));
}

async function page(url: string): Promise<{ status: number; html: string }> {
  const res = await fetch(url);
  return { status: res.status, html: await res.text() };
}

describe('a password the bank refuses once', () => {
  it('shows the credentials again with the error, and the second try connects', async () => {
    const { walk, connection } = await connect({ kind: 'connect', login: 'wrongpass', password: 'first' });
    expect(walk.steps).toEqual(['credentials', 'wrongpass']);
    expect(walk.location.searchParams.get('error')).toBeNull();
    expect(walk.location.searchParams.get('code')).toEqual(expect.any(String));
    expect(connection).toMatchObject({ id_connector: DEMO_BANK_ID, state: null });
    expect(held()).toEqual([{ connections: [{ connector: DEMO_BANK_ID, state: null, expire: null }] }]);
  });

  it('the retry page says what went wrong and keeps the login and the bank chosen', async () => {
    const first = await page(webviewUrl('connect'));
    const form = parseForms(first.html)[0];
    const body = new URLSearchParams();
    for (const c of form?.controls ?? []) if (c.attrs.get('type') === 'hidden') body.append(c.attrs.get('name') ?? '', c.attrs.get('value') ?? '');
    body.set('connector_id', '17');
    body.set('login', 'WrongPass');
    body.set('password', 'x');
    body.set('action', 'connect');
    const res = await fetch(`${emu.webviewUrl}/en/connect`, { method: 'POST', body, redirect: 'manual' });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Wrong login or password. Check them and try again.');
    expect(html).toContain('value="WrongPass"');
    expect(html).toMatch(/name="connector_id" value="17" checked/);
    expect(parseForms(html)[0]?.step).toBe('wrongpass');
    expect(held()).toEqual([]);
  });

  it('cancelling on the retry page creates nothing', async () => {
    const { walk } = await connect({ kind: 'connect', login: 'wrongpass', steps: { cancelAt: 'wrongpass' } });
    expect(walk.location.searchParams.get('error')).toBe('access_denied');
    expect(held()).toEqual([]);
  });
});

describe('a one-time code (SCA)', () => {
  it('asks for the code after the credentials; a wrong one is asked again; the right one connects', async () => {
    const { walk, connection } = await connect({ kind: 'connect', login: 'sca', steps: { otp: ['000000', '12345'] } });
    expect(walk.steps).toEqual(['credentials', 'otp', 'otp-retry', 'otp-retry']);
    expect(connection).toMatchObject({ state: null, id_connector: DEMO_BANK_ID });
    expect(held()).toHaveLength(1);
  });

  it('cancelling on the code page creates nothing and returns the state', async () => {
    const { walk } = await connect({ kind: 'connect', connectorId: 17, login: 'sca', steps: { cancelAt: 'otp' } });
    expect(walk.steps).toEqual(['credentials', 'otp']);
    expect(walk.location.searchParams.get('error')).toBe('access_denied');
    expect(walk.location.searchParams.get('state')).toBe('st');
    expect(held()).toEqual([]);
  });

  it('a code page posted again after the flow ended is refused: the sign-in is over', async () => {
    const first = await page(webviewUrl('connect'));
    const hidden = new URLSearchParams();
    for (const c of parseForms(first.html)[0]?.controls ?? [])
      if (c.attrs.get('type') === 'hidden') hidden.append(c.attrs.get('name') ?? '', c.attrs.get('value') ?? '');
    const post = (fields: Record<string, string>) =>
      fetch(`${emu.webviewUrl}/en/connect`, { method: 'POST', redirect: 'manual', body: new URLSearchParams([...hidden, ...Object.entries(fields)]) });
    const otpPage = await (await post({ connector_id: String(DEMO_BANK_ID), login: 'sca', password: 'x', action: 'connect' })).text();
    const session =
      parseForms(otpPage)[0]
        ?.controls.find((c) => c.attrs.get('name') === 'webview_session')
        ?.attrs.get('value') ?? '';
    expect(session).not.toBe('');
    const done = await post({ webview_session: session, otp: OTP_CODE, action: 'otp' });
    expect(done.status).toBe(303);
    const replay = await post({ webview_session: session, otp: OTP_CODE, action: 'otp' });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('This step has expired');
    expect(held()).toHaveLength(1);
  });
});

describe('an approval in the banking app (decoupled)', () => {
  it('waits: Continue before the approval says "not yet"; after it, the connection is made', async () => {
    const { walk, connection } = await connect({ kind: 'connect', login: 'decoupled', steps: { continueBeforeApproval: 2 } });
    expect(walk.steps).toEqual(['credentials', 'decoupled', 'decoupled-waiting', 'decoupled-waiting', 'decoupled-approved']);
    expect(connection?.state).toBeNull();
    expect(held()).toHaveLength(1);
  });

  it('cancelling while waiting creates nothing', async () => {
    const { walk } = await connect({ kind: 'connect', login: 'decoupled', steps: { cancelAt: 'decoupled' } });
    expect(walk.location.searchParams.get('error')).toBe('access_denied');
    expect(held()).toEqual([]);
  });
});

describe('a question from the bank (additional information)', () => {
  it('is answered, then the connection is made', async () => {
    const { walk, connection } = await connect({ kind: 'connect', login: 'question', steps: { answer: '14/07/1989' } });
    expect(walk.steps).toEqual(['credentials', 'question']);
    expect(connection?.state).toBeNull();
  });

  it('an empty answer is asked again', async () => {
    await expect(connect({ kind: 'connect', login: 'question', steps: { answer: ' ' } })).rejects.toThrow(/400: Answer the question to continue/);
    expect(held()).toEqual([]);
  });
});

describe('test logins together, and consents that end soon', () => {
  it('steps come in the order a bank asks them, and `expiring` sets the consent end 3 days ahead', async () => {
    const { walk, connection } = await connect({ kind: 'connect', login: 'decoupled+SCA+question+expiring+wrongpass' });
    expect(walk.steps).toEqual(['credentials', 'wrongpass', 'question', 'otp', 'decoupled', 'decoupled-approved']);
    // 2026-11-27 10:00 UTC is 11:00 in Paris.
    expect(EXPIRING_CONSENT_DAYS).toBe(3);
    expect(connection?.expire).toBe('2026-11-27 11:00:00');
  });

  it('the consent knob sets the end in days, in the past too, or removes it; also over HTTP', async () => {
    const { connectionIds } = knobs().addUser();
    const id = connectionIds[0] ?? 0;
    knobs().setConsentExpiry(id, 10);
    expect(state().connection(id)?.expire).toBe('2026-12-04 11:00:00');
    knobs().setConsentExpiry(id, -1);
    expect(state().connection(id)?.expire).toBe('2026-11-23 11:00:00');
    const res = await fetch(`${emu.url}/__emulator/connections/${id}/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ days: null }),
    });
    expect(res.status).toBe(204);
    expect(state().connection(id)?.expire).toBeNull();
    const bad = await fetch(`${emu.url}/__emulator/connections/${id}/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ days: 'soon' }),
    });
    expect(bad.status).toBe(400);
    expect(() => knobs().setConsentExpiry(999_999, 1)).toThrow(/Unknown connection/);
  });

  it('a plain login on the test connector still makes the connection in the state it names', async () => {
    const { walk, connection } = await connect({ kind: 'connect', connectorId: TEST_CONNECTOR_ID, login: 'wrongpass' });
    expect(walk.steps).toEqual(['credentials']);
    expect(connection?.state).toBe('wrongpass');
  });
});

describe('the test logins are listed on the page', () => {
  it.each(['en', 'fr'])('in %s, each with what it does', async (lang) => {
    const { html } = await page(webviewUrl('connect', {}, lang));
    for (const login of MAGIC_LOGINS) expect(html).toContain(`<code>${login}</code>`);
    expect(html).toContain(OTP_CODE);
  });
});

describe('the language of the webview', () => {
  it('is French under /fr: pages, steps and errors', async () => {
    const { html } = await page(webviewUrl('connect', {}, 'fr'));
    expect(html).toContain('<html lang="fr">');
    expect(html).toContain('Connectez votre banque');
    expect(html).toContain('Mot de passe');
    const { walk } = await connect({ kind: 'connect', login: 'sca', steps: { cancelAt: 'otp' } }, {}, 'fr');
    expect(walk.lang).toBe('fr');
    const wrong = await page(webviewUrl('connect', { domain: 'other.biapi.pro' }, 'fr'));
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('Domaine inconnu');
    expect(wrong.html).toContain('Erreur 400');
  });

  it.each(['en', 'de', 'es'])('is English under /%s', async (lang) => {
    const { status, html } = await page(webviewUrl('connect', {}, lang));
    expect(status).toBe(200);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('Connect your bank');
  });
});

describe('connector_uuids', () => {
  const neobank = CONNECTORS.find((c) => c.id === 338);

  it('one uuid skips the bank chooser and connects that bank', async () => {
    const { html } = await page(webviewUrl('connect', { connector_uuids: neobank?.uuid ?? '' }));
    expect(html).toContain('id="bank-only"');
    expect(html).not.toContain('type="radio"');
    expect(html).toContain('Sign in to Sandbox Neobank');
    const { connection } = await connect({ kind: 'connect' }, { connector_uuids: (neobank?.uuid ?? '').toUpperCase() });
    expect(connection?.id_connector).toBe(338);
  });

  it('several uuids offer those banks only; an unknown one alone is an error page', async () => {
    const two = `${neobank?.uuid ?? ''},${CONNECTORS.find((c) => c.id === 17)?.uuid ?? ''}`;
    const { html } = await page(webviewUrl('connect', { connector_uuids: two }));
    expect(html.match(/type="radio"/g)).toHaveLength(2);
    expect(html).not.toContain('Demo Bank');
    const none = await page(webviewUrl('connect', { connector_uuids: '00000000-0000-0000-0000-000000000000' }));
    expect(none.status).toBe(400);
    expect(none.html).toContain('No connector matches');
  });
});

describe('reconnect', () => {
  it('with reset_credentials=true asks for the credentials, and the test logins apply', async () => {
    const user = knobs().addUser({ connections: [{ state: 'wrongpass', errorMessage: 'Wrong password' }] });
    const id = user.connectionIds[0] ?? 0;
    knobs().setConsentExpiry(id, 5);
    const url = webviewUrl('reconnect', { code: await temporaryCode(user.token), connection_id: String(id), reset_credentials: 'true' });
    const { html } = await page(url);
    expect(html).toContain('no longer accepts the saved credentials');
    const walk = await walkWebview(url, { kind: 'reconnect', login: 'wrongpass+sca' });
    expect(walk.steps).toEqual(['credentials', 'wrongpass', 'otp']);
    expect(walk.location.searchParams.get('connection_id')).toBe(String(id));
    // Repaired, and the consent renewed for 180 days (2027-05-23 10:00 UTC: 12:00 in Paris, summer time).
    expect(state().connection(id)).toMatchObject({ state: null, error_message: null, expire: '2027-05-23 12:00:00' });
  });

  it('without reset_credentials asks for nothing but a click, and leaves a connection without consent end without one', async () => {
    const user = knobs().addUser({ connections: [{ state: 'SCARequired' }] });
    const id = user.connectionIds[0] ?? 0;
    const walk = await walkWebview(webviewUrl('reconnect', { code: await temporaryCode(user.token), connection_id: String(id) }), { kind: 'reconnect' });
    expect(walk.steps).toEqual(['reconnect']);
    expect(state().connection(id)).toMatchObject({ state: null, expire: null });
  });

  it('with reset_credentials=true and empty credentials is refused, and the connection is left as it was', async () => {
    const user = knobs().addUser({ connections: [{ state: 'passwordExpired' }] });
    const id = user.connectionIds[0] ?? 0;
    const url = webviewUrl('reconnect', { code: await temporaryCode(user.token), connection_id: String(id), reset_credentials: 'true' });
    await expect(walkWebview(url, { kind: 'reconnect', login: ' ' })).rejects.toThrow(/400: Enter your login and password/);
    expect(state().connection(id)?.state).toBe('passwordExpired');
  });
});

describe('GET /2.0/connectors', () => {
  it('lists the connectors without authentication, with id, uuid, name and capabilities', async () => {
    const res = await fetch(`${emu.apiUrl}/connectors`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { connectors: Record<string, unknown>[] };
    expect(body.connectors.map((c) => c['id'])).toEqual(CONNECTORS.filter((c) => !c.hidden).map((c) => c.id));
    expect(body.connectors[0]).toMatchObject({ id: DEMO_BANK_ID, uuid: expect.any(String), name: 'Demo Bank', capabilities: ['bank'] });
    expect(knobs().calls('connectors.list')).toBe(1);
  });

  it('takes the knobs like every endpoint', async () => {
    knobs().fail('connectors.list', { status: 503, times: 1 });
    expect((await fetch(`${emu.apiUrl}/connectors`)).status).toBe(503);
    expect((await fetch(`${emu.apiUrl}/connectors`)).status).toBe(200);
  });
});
