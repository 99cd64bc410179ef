import { describe, expect, it } from '@jest/globals';
// The emulator's own unit tests reach its building blocks directly; every other test, the demo
// and the bench use its public entry point (emulator/index.ts).
import { decodeEntities, pageErrorText, parseForms } from '../../emulator/index.js';
import { KnobRegistry } from '../../emulator/knobs.js';
import { EmulatorStore } from '../../emulator/store.js';
import { appendQuery, DEFAULT_TIME_ZONE, escapeHtml, powensDate, redirectUriAllowed, safeEqual } from '../../emulator/util.js';

describe('emulator helpers', () => {
  it('formats dates the Powens way, in UTC', () => {
    expect(powensDate(new Date('2026-03-04T05:06:07.890Z'))).toBe('2026-03-04 05:06:07');
  });

  it('formats dates as the wall-clock time of a zone, daylight saving time included', () => {
    expect(powensDate(new Date('2026-03-04T05:06:07.890Z'), 'Europe/Paris')).toBe('2026-03-04 06:06:07');
    expect(powensDate(new Date('2026-07-04T05:06:07Z'), 'Europe/Paris')).toBe('2026-07-04 07:06:07');
    // The autumn change: 01:30 UTC is 02:30 in Paris again, an hour after 00:30 UTC was.
    expect(powensDate(new Date('2026-10-25T00:30:00Z'), 'Europe/Paris')).toBe('2026-10-25 02:30:00');
    expect(powensDate(new Date('2026-10-25T01:30:00Z'), 'Europe/Paris')).toBe('2026-10-25 02:30:00');
    expect(powensDate(new Date('2026-12-31T23:30:00Z'), 'Europe/Paris')).toBe('2027-01-01 00:30:00');
    expect(powensDate(new Date('2026-01-01T00:00:00Z'), DEFAULT_TIME_ZONE)).toBe('2026-01-01 01:00:00');
  });

  it('escapes HTML text and attributes', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('appends a query with ? or &, before any fragment', () => {
    const q = new URLSearchParams({ error: 'access_denied', error_description: 'User cancelled', state: 'a&b' });
    expect(appendQuery('http://x/cb', q)).toBe('http://x/cb?error=access_denied&error_description=User+cancelled&state=a%26b');
    expect(appendQuery('http://x/cb?t=1#frag', new URLSearchParams({ state: 's' }))).toBe('http://x/cb?t=1&state=s#frag');
    expect(appendQuery('http://x/cb', new URLSearchParams())).toBe('http://x/cb');
  });

  it('matches redirect URIs exactly, or by prefix for entries ending in *', () => {
    const list = ['http://localhost:3000/callback', 'http://127.0.0.1:*'];
    expect(redirectUriAllowed('http://localhost:3000/callback', list)).toBe(true);
    expect(redirectUriAllowed('http://localhost:3000/callback/', list)).toBe(false);
    expect(redirectUriAllowed('http://localhost:3000/callback?x=1', list)).toBe(false);
    expect(redirectUriAllowed('http://127.0.0.1:41234/callback', list)).toBe(true);
    expect(redirectUriAllowed('http://127.0.0.1:1@evil.example/', list)).toBe(false);
    expect(redirectUriAllowed('javascript:alert(1)', ['javascript:*'])).toBe(false);
    expect(redirectUriAllowed('not a url', ['*'])).toBe(false);
  });

  it('compares secrets', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('knob registry', () => {
  it('applies delays and the oldest terminal rule, each for its number of times', () => {
    const r = new KnobRegistry();
    r.delay('users.me', 10, { times: 1 });
    r.fail('users.me', { status: 500, times: 2 });
    r.hang('users.me', { times: 1 });
    const first = r.take('users.me');
    expect(first.delayMs).toBe(10);
    expect(first.terminal).toMatchObject({ kind: 'fail', status: 500 });
    expect(r.take('users.me')).toMatchObject({ delayMs: 0, terminal: { kind: 'fail' } });
    expect(r.take('users.me').terminal?.kind).toBe('hang');
    expect(r.take('users.me').terminal).toBeUndefined();
    expect(r.calls('users.me')).toBe(4);
    expect(r.calls('token.access')).toBe(0);
  });

  it('keeps a rule without times until cleared, and clears the counters too', () => {
    const r = new KnobRegistry();
    r.malformed('token.access');
    for (let i = 0; i < 5; i++) expect(r.take('token.access').terminal?.kind).toBe('malformed');
    r.clear();
    expect(r.take('token.access').terminal).toBeUndefined();
    expect(r.calls()).toBe(1);
  });

  it('refuses bad arguments', () => {
    const r = new KnobRegistry();
    expect(() => r.fail('users.me', { status: 99 })).toThrow(TypeError);
    expect(() => r.hang('users.me', { times: 0 })).toThrow(TypeError);
    expect(() => r.delay('users.me', -1)).toThrow(TypeError);
    expect(() => r.calls('nope' as 'users.me')).toThrow(TypeError);
  });
});

describe('emulator store', () => {
  it('expires codes: temporary after 30 minutes, authorization after 10', () => {
    let now = new Date('2026-01-01T00:00:00Z').getTime();
    const store = new EmulatorStore(() => new Date(now));
    const user = store.createUser();
    const temp = store.issueTemporaryCode(user.id, 'requestAccess');
    const auth = store.issueAuthorizationCode(user.id, 'c', 'http://x/cb');
    now += 9 * 60 * 1000;
    expect(store.peekAuthorizationCode(auth)).toBeDefined();
    now += 2 * 60 * 1000;
    expect(store.peekAuthorizationCode(auth)).toBeUndefined();
    expect(store.checkTemporaryCode(temp)).toMatchObject({ ok: true });
    now += 20 * 60 * 1000;
    expect(store.checkTemporaryCode(temp)).toEqual({ ok: false, reason: 'expired' });
  });

  it('uses up single-access codes only', () => {
    const store = new EmulatorStore(() => new Date());
    const user = store.createUser();
    const single = store.issueTemporaryCode(user.id, 'singleAccess');
    const standard = store.issueTemporaryCode(user.id, 'requestAccess');
    store.consumeTemporaryCode(single);
    store.consumeTemporaryCode(standard);
    expect(store.checkTemporaryCode(single)).toEqual({ ok: false, reason: 'consumed' });
    expect(store.checkTemporaryCode(standard)).toMatchObject({ ok: true });
    expect(store.checkTemporaryCode('unknown')).toEqual({ ok: false, reason: 'unknown' });
  });

  it('deletes a temporary user after 30 minutes, unless a permanent token was made meanwhile', () => {
    let now = new Date('2026-01-01T00:00:00Z').getTime();
    const store = new EmulatorStore(() => new Date(now));
    const left = store.createUser({ temporary: true });
    const leftToken = store.createToken(left.id, { temporary: true });
    const kept = store.createUser({ temporary: true });
    store.createToken(kept.id, { temporary: true });
    const permanent = store.createToken(kept.id);
    now += 29 * 60 * 1000;
    expect(store.userIdByToken(leftToken)).toBe(left.id);
    now += 2 * 60 * 1000;
    expect(store.userIdByToken(leftToken)).toBeUndefined();
    expect(store.userViews().map((u) => u.id)).toEqual([kept.id]);
    expect(store.userIdByToken(permanent)).toBe(kept.id);
  });

  it('deletes a user with its connections, tokens and codes', () => {
    const store = new EmulatorStore(() => new Date());
    const user = store.createUser();
    const token = store.createToken(user.id);
    const c = store.addConnection(user.id, 59);
    const code = store.issueTemporaryCode(user.id, 'requestAccess');
    expect(store.snapshot().users[0]).toMatchObject({ tokens: 1, codes: 1 });
    store.deleteUser(user.id);
    expect(store.userIdByToken(token)).toBeUndefined();
    expect(store.connection(c.id)).toBeUndefined();
    expect(store.checkTemporaryCode(code).ok).toBe(false);
    expect(store.snapshot()).toEqual({ users: [] });
  });
});

describe('webview driver parsing', () => {
  it('reads forms, their hidden inputs and buttons, decoding entities', () => {
    const html = `<p class="form-error" id="error">Bad &amp; wrong</p>
<form method="post" action="/en/connect" class="webview-form" data-step="otp">
<input type="hidden" name="state" value="a&amp;b&quot;c">
<input type="radio" name="connector_id" value="59" checked>
<button type="submit" name="action" value="connect" class="btn-primary">Connect</button>
</form>`;
    const [form] = parseForms(html);
    expect(form?.action).toBe('/en/connect');
    expect(form?.method).toBe('post');
    expect(form?.step).toBe('otp');
    expect(form?.controls.map((c) => [c.tag, c.attrs.get('name'), c.attrs.get('value')])).toEqual([
      ['input', 'state', 'a&b"c'],
      ['input', 'connector_id', '59'],
      ['button', 'action', 'connect'],
    ]);
    expect(form?.controls[1]?.attrs.has('checked')).toBe(true);
    expect(pageErrorText(html)).toBe('Bad & wrong');
    expect(decodeEntities('&#233;&#x41;&lt;&unknown;')).toBe('éA<&unknown;');
  });
});
