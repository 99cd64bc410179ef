import { t } from '../../src/i18n/index.js';
import {
  connectionMessage,
  connectionStatus,
  localizeViews,
  MAX_PROSE_LENGTH,
  needsNewCredentials,
  plainProse,
  toConnectionView as view,
  type ViewOptions,
} from '../../src/powens/status.js';
import type { PowensConnection } from '../../src/powens/types.js';

// Winter in Paris (UTC+1): 2026-11-24 10:00:00 on Powens' clock is 09:00 UTC.
const NOW = Date.parse('2026-11-24T12:00:00Z');
const OPTS: ViewOptions = { timeZone: 'Europe/Paris', consentWarningDays: 14, now: NOW };
const toConnectionView = (c: PowensConnection, opts: Partial<ViewOptions> = {}): ReturnType<typeof view> => view(c, { ...OPTS, ...opts });

// Every state Powens documents (docs/POWENS-API.md), with the status docs/REFERENCE.md gives it.
const STATES: [string, string][] = [
  ['SCARequired', 'action_needed'],
  ['webauthRequired', 'action_needed'],
  ['additionalInformationNeeded', 'action_needed'],
  ['decoupled', 'action_needed'],
  ['actionNeeded', 'action_needed'],
  ['passwordExpired', 'action_needed'],
  ['wrongpass', 'action_needed'],
  ['validating', 'syncing'],
  ['rateLimiting', 'temporary_error'],
  ['websiteUnavailable', 'temporary_error'],
  ['bug', 'temporary_error'],
];

function connection(fields: Partial<PowensConnection> = {}): PowensConnection {
  return {
    id: 42,
    id_user: 7,
    id_connector: 59,
    connector_uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59',
    state: null,
    error: null,
    error_message: null,
    last_update: '2026-11-24 10:00:00',
    created: '2026-11-20 08:30:15',
    next_try: null,
    expire: null,
    active: true,
    connector: { id: 59, uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59', name: 'Demo Bank' },
    ...fields,
  };
}

describe('connection status', () => {
  test.each(STATES)('state %s is %s', (state, status) => {
    expect(connectionStatus(state, '2026-11-24 10:00:00')).toBe(status);
    expect(connectionStatus(state, null)).toBe(status);
  });

  test('a null state with a last update is ok', () => {
    expect(connectionStatus(null, '2026-11-24 10:00:00')).toBe('ok');
  });

  test('a null state without a last update is syncing (the first sync is running)', () => {
    expect(connectionStatus(null, null)).toBe('syncing');
    expect(connectionStatus(undefined, undefined)).toBe('syncing');
    expect(connectionStatus(null, '')).toBe('syncing');
  });

  test('a state Powens adds later is unknown, and passed through as is', () => {
    expect(connectionStatus('brandNewState', '2026-11-24 10:00:00')).toBe('unknown');
    const view = toConnectionView(connection({ state: 'brandNewState' }));
    expect(view.status).toBe('unknown');
    expect(view.state).toBe('brandNewState');
    expect(view.reconnectUrl).toBeNull();
  });

  test('state names are matched exactly (case matters at Powens)', () => {
    expect(connectionStatus('scarequired', null)).toBe('unknown');
    expect(connectionStatus('SCARequired ', null)).toBe('unknown');
  });
});

describe('the connection as the frontend sees it', () => {
  test('carries id, connector, state, status, message, ISO dates, active and no reconnect link when ok', () => {
    expect(toConnectionView(connection())).toEqual({
      id: 42,
      connector: { id: 59, name: 'Demo Bank', uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59' },
      state: null,
      status: 'ok',
      message: null,
      lastUpdate: '2026-11-24T09:00:00Z',
      createdAt: '2026-11-20T07:30:15Z',
      expiresAt: null,
      expiresSoon: false,
      active: true,
      reconnectUrl: null,
    });
  });

  test('dates are read in POWENS_TIMEZONE', () => {
    expect(toConnectionView(connection(), { timeZone: 'UTC' }).lastUpdate).toBe('2026-11-24T10:00:00Z');
    expect(toConnectionView(connection(), { timeZone: 'America/New_York' }).lastUpdate).toBe('2026-11-24T15:00:00Z');
  });

  test('expiresAt comes from Powens expire (summer in Paris: UTC+2)', () => {
    expect(toConnectionView(connection({ expire: '2027-07-20 08:30:15' })).expiresAt).toBe('2027-07-20T06:30:15Z');
  });

  describe('a consent that ends soon', () => {
    const inDays = (days: number): string => new Date(NOW + days * 86_400_000).toISOString();

    test.each([
      ['ends in 3 days', inDays(3), true],
      ['ends in exactly 14 days', inDays(14), true],
      ['ends in 15 days', inDays(15), false],
      ['has ended yesterday', inDays(-1), true],
    ])('one that %s is expiresSoon=%s, with a reconnect link when soon', (_what, expire, soon) => {
      const v = toConnectionView(connection({ expire }));
      expect(v.status).toBe('ok');
      expect(v.expiresSoon).toBe(soon);
      expect(v.reconnectUrl).toBe(soon ? '/reconnect/42' : null);
    });

    test('CONSENT_WARNING_DAYS sets the window; 0 flags only a consent that has ended', () => {
      expect(toConnectionView(connection({ expire: inDays(20) }), { consentWarningDays: 30 }).expiresSoon).toBe(true);
      expect(toConnectionView(connection({ expire: inDays(1) }), { consentWarningDays: 0 }).expiresSoon).toBe(false);
      expect(toConnectionView(connection({ expire: inDays(-1) }), { consentWarningDays: 0 }).expiresSoon).toBe(true);
    });

    test('no expire, or one that cannot be read, is never soon', () => {
      expect(toConnectionView(connection({ expire: null })).expiresSoon).toBe(false);
      expect(toConnectionView(connection({ expire: 'soon' }))).toEqual(expect.objectContaining({ expiresAt: null, expiresSoon: false, reconnectUrl: null }));
    });
  });

  test.each(STATES.filter(([, status]) => status === 'action_needed'))('a connection in %s links to its reconnect flow and shows the bank message', (state) => {
    const view = toConnectionView(connection({ state, error_message: 'Please confirm in your banking app.' }));
    expect(view.status).toBe('action_needed');
    expect(view.reconnectUrl).toBe('/reconnect/42');
    expect(view.message).toBe('Please confirm in your banking app.');
  });

  test('only action_needed connections (or consents ending soon) get a reconnect link', () => {
    for (const [state, status] of STATES) {
      const view = toConnectionView(connection({ state }));
      expect(view.reconnectUrl === null).toBe(status !== 'action_needed');
    }
  });

  test('without expand=connector, the connector id and uuid come from the connection and the name is null', () => {
    const view = toConnectionView(connection({ connector: undefined }));
    expect(view.connector).toEqual({ id: 59, name: null, uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59' });
  });

  test('an answer with only the legacy error field takes its state from it', () => {
    const { state: _omitted, ...legacy } = connection({ error: 'wrongpass' });
    const view = toConnectionView(legacy);
    expect(view.state).toBe('wrongpass');
    expect(view.status).toBe('action_needed');
    expect(view.reconnectUrl).toBe('/reconnect/42');
  });

  test('a state field, even null, wins over the legacy error field', () => {
    expect(toConnectionView(connection({ state: null, error: 'wrongpass' })).status).toBe('ok');
  });

  test('wrongpass and passwordExpired (also in the legacy error field) need new credentials; no other state does', () => {
    for (const [state] of STATES) expect(needsNewCredentials(connection({ state }))).toBe(state === 'wrongpass' || state === 'passwordExpired');
    expect(needsNewCredentials(connection({ state: null }))).toBe(false);
    const { state: _omitted, ...legacy } = connection({ error: 'passwordExpired' });
    expect(needsNewCredentials(legacy)).toBe(true);
  });

  test('a connection without active is taken as active', () => {
    expect(toConnectionView(connection({ active: undefined })).active).toBe(true);
    expect(toConnectionView(connection({ active: false })).active).toBe(false);
  });
});

describe('message: a sentence for the user, never a URL or technical text', () => {
  test.each([
    'Please confirm in your banking app.',
    'Strong customer authentication is required by your bank.',
    'Bad password',
    'Veuillez confirmer l’opération dans votre application bancaire.',
    'Votre mot de passe a expiré, merci de le renouveler sur le site de la banque (rubrique Sécurité).',
  ])('passes on Powens prose: %s', (text) => {
    expect(plainProse(text)).toBe(text);
  });

  test.each([
    [
      'the webauth redirection seen in production',
      'Redirecting to https://lydia-app.com/site/open/dispatch/openauth?redirect_uri=https%3A%2F%2Fbiapi.pro&state=B2023jb',
    ],
    ['a bare domain', 'Please sign in at mybank.fr to confirm.'],
    ['a www host', 'Go to www.mybank.fr and confirm'],
    ['markup', '<a href="javascript:alert(2)">reconnect here</a>'],
    ['a javascript: URL in words', 'Click javascript:alert(1) to go on'],
    ['a state name', 'wrongpass'],
    ['a state name in a sentence', 'Connection is in state SCARequired now'],
    ['a camelCase identifier', 'Unexpected errorCode from the bank'],
    ['an error token', 'Error: invalid_grant for this user'],
    ['JSON', '{"code": "bug", "message": "failed"}'],
    ['a key and value', 'state=wrongpass reason=timeout'],
    ['a stack frame', 'NullPointerException at com.bank.Sync.run(Sync.java:42)'],
    ['a long number', 'Request 123456789 failed on the bank side'],
    ['a hexadecimal id', 'Trace 9f86d081884c7d659a2feaa0c55ad015 failed'],
    ['a line break', 'First line\nSecond line of the message'],
    ['a bidi override', 'Your bank \u202eknab ruoy needs you'],
    ['one word', 'Failure.'],
    ['too short', 'Nope'],
    ['too long', `Please ${'confirm again '.repeat(MAX_PROSE_LENGTH / 10)}`],
    ['nothing', ''],
  ])('refuses %s', (_name, text) => {
    expect(plainProse(text)).toBeNull();
  });

  test('a connection that needs the user gets a sentence by its state, in the request language', () => {
    expect(connectionMessage('SCARequired', 'action_needed', 'en')).toBe('Your bank asks you to confirm your identity.');
    expect(connectionMessage('SCARequired', 'action_needed', 'fr')).toBe('Votre banque vous demande de confirmer votre identité.');
    expect(connectionMessage('somethingNew', 'unknown', 'en')).toBe(t('en', 'connection.status.unknown'));
    expect(connectionMessage('notSupported', 'unknown', 'fr')).toBe(t('fr', 'connection.state.notSupported'));
    expect(connectionMessage(null, 'ok', 'en')).toBeNull();
    expect(connectionMessage('validating', 'syncing', 'en')).toBeNull();
  });

  test.each(['en', 'fr'] as const)('the cached list gets its messages in %s after the cache, each where toConnectionView leaves one null', (lang) => {
    const views = [
      ...STATES.map(([state], i) => toConnectionView(connection({ id: i + 1, state }))),
      toConnectionView(connection({ id: 90, state: 'somethingNew' })),
      toConnectionView(connection({ id: 91, state: 'notSupported' })),
      toConnectionView(connection({ id: 92 })),
      toConnectionView(connection({ id: 93, state: 'wrongpass', error_message: 'Bad password' })),
      toConnectionView(connection({ id: 94, state: 'webauthRequired', error_message: 'Redirecting to https://bank.example/openauth?state=x' })),
      // A bank name that spells the fields out is data, not a connection.
      toConnectionView(connection({ id: 95, connector: { id: 1, uuid: 'x', name: '"state":"bug","status":"temporary_error","message":null' } })),
    ];
    const before = structuredClone(views);
    const answer = localizeViews(views, lang);
    // The views may be shared with other requests of the user: copies take the messages.
    expect(views).toEqual(before);
    expect(answer.map((v) => v.message)).toEqual(views.map((v) => v.message ?? connectionMessage(v.state, v.status, lang)));
    expect(answer.find((v) => v.id === 93)?.message).toBe('Bad password');
    expect(answer.find((v) => v.id === 94)?.message).toBe(t(lang, 'connection.state.webauthRequired'));
    expect(answer.find((v) => v.id === 95)).toEqual(views.find((v) => v.id === 95));
    const needsOne = answer.filter((v) => v.status === 'action_needed' || v.status === 'temporary_error' || v.status === 'unknown');
    expect(needsOne.filter((v) => typeof v.message !== 'string').map((v) => v.id)).toEqual([]);
  });

  test('a list with nothing to say comes back as it is, view for view', () => {
    const views = [toConnectionView(connection()), toConnectionView(connection({ id: 2, state: 'wrongpass', error_message: 'Bad password' }))];
    const answer = localizeViews(views, 'fr');
    expect(answer).toEqual(views);
    answer.forEach((v, i) => expect(v).toBe(views[i]));
  });
});
