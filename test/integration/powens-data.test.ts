import { CONNECTORS, DEMO_BANK_ID, walkWebview } from '../../emulator/index.js';
import { createKeys } from '../../src/storage/keys.js';
import { connectBank, expectProblem, freshUser, listConnections } from '../helpers/api.js';
import type { Browser } from '../helpers/browser.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

/**
 * What the service reads from Powens and passes on, by scenario against the emulator over HTTP
 * (docs/REFERENCE.md): reconnects that reset refused credentials, consents that end soon, dates
 * read as Paris wall-clock time, Powens' request_id in the logs, the domain's connectors for an
 * app's own bank picker and `/connect?connector_uuid=`.
 */

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
const newUser = (s: Stack = stack): { userId: string; b: Browser } => freshUser(s);
const keys = (s: Stack = stack) => createKeys(s.config.redis.prefix);
const NEOBANK = CONNECTORS.find((c) => c.id === 338)?.uuid ?? '';
const EXAMPLE = CONNECTORS.find((c) => c.id === 17)?.uuid ?? '';

describe('a reconnect of a connection whose credentials the bank refused', () => {
  test.each(['wrongpass', 'passwordExpired'])('in %s opens the webview with reset_credentials=true; new credentials repair it', async (state) => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().setConnectionState(id, state, 'The bank refused the password.');
    const hop = await b.get(`/reconnect/${id}`);
    expect(hop.status).toBe(302);
    const url = new URL(hop.location ?? '');
    expect(url.searchParams.get('reset_credentials')).toBe('true');
    expect(url.searchParams.get('connection_id')).toBe(String(id));

    const walk = await walkWebview(url.href, { kind: 'reconnect', login: 'new-login', password: 'new-password' });
    expect(walk.steps).toEqual(['credentials']);
    const cb = await b.get(walk.location.href);
    expect(cb.status).toBe(303);
    expect((await listConnections(b)).connections).toEqual([expect.objectContaining({ id, state: null, status: 'ok', reconnectUrl: null })]);
  });

  test.each(['SCARequired', 'decoupled', 'actionNeeded', 'webauthRequired', 'additionalInformationNeeded'])(
    'in %s does not reset the credentials',
    async (state) => {
      const { b } = newUser();
      const id = await connectBank(b);
      knobs().setConnectionState(id, state);
      const url = new URL((await b.get(`/reconnect/${id}`)).location ?? '');
      expect(url.searchParams.has('reset_credentials')).toBe(false);
      expect((await walkWebview(url.href, { kind: 'reconnect' })).steps).toEqual(['reconnect']);
    },
  );

  test('read from the connection at the moment of the reconnect, not from a cached list', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    expect((await listConnections(b)).connections[0]?.status).toBe('ok');
    // Powens changed the state; the cached list has not seen it yet.
    knobs().setConnectionState(id, 'wrongpass');
    const calls = knobs().calls('connections.get');
    const url = new URL((await b.get(`/reconnect/${id}`)).location ?? '');
    expect(url.searchParams.get('reset_credentials')).toBe('true');
    expect(knobs().calls('connections.get')).toBe(calls + 1);
  });
});

describe('a consent that ends soon', () => {
  test('a connection made with the test login `expiring` is expiresSoon with a reconnect link; a reconnect renews it', async () => {
    const { b } = newUser();
    const id = await connectBank(b, { kind: 'connect', login: 'expiring' });
    const [c] = (await listConnections(b)).connections;
    expect(c).toEqual(expect.objectContaining({ id, status: 'ok', expiresSoon: true, reconnectUrl: `/reconnect/${id}` }));
    const days = (Date.parse(c?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(2.9);
    expect(days).toBeLessThanOrEqual(3);

    const hop = await b.get(c?.reconnectUrl ?? '');
    expect(new URL(hop.location ?? '').searchParams.has('reset_credentials')).toBe(false);
    const cb = await b.get((await walkWebview(hop.location ?? '', { kind: 'reconnect' })).location.href);
    expect(cb.status).toBe(303);
    const [after] = (await listConnections(b)).connections;
    expect(after).toEqual(expect.objectContaining({ id, status: 'ok', expiresSoon: false, reconnectUrl: null }));
    expect((Date.parse(after?.expiresAt ?? '') - Date.now()) / 86_400_000).toBeGreaterThan(170);
  });

  test('the consent knob moves a connection in and out of the window (and a past end counts too)', async () => {
    const { userId, b } = newUser();
    const id = await connectBank(b);
    const view = async () => {
      // Powens would announce the change with a webhook: the list is read again.
      await stack.built.connections.changed(userId);
      return (await listConnections(b)).connections[0];
    };
    for (const [days, soon] of [
      [30, false],
      [14.5, false],
      [13.9, true],
      [-2, true],
    ] as const) {
      knobs().setConsentExpiry(id, days);
      expect({ days, soon: (await view())?.expiresSoon }).toEqual({ days, soon });
    }
    knobs().setConsentExpiry(id, null);
    expect(await view()).toEqual(expect.objectContaining({ expiresAt: null, expiresSoon: false, reconnectUrl: null }));
  });

  test('CONSENT_WARNING_DAYS sets the window', async () => {
    const narrow = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { CONSENT_WARNING_DAYS: '2' } });
    try {
      const { b } = newUser(narrow);
      const id = await connectBank(b, { kind: 'connect', login: 'expiring' });
      expect((await listConnections(b)).connections[0]).toEqual(expect.objectContaining({ id, expiresSoon: false, reconnectUrl: null }));
    } finally {
      await narrow.close();
    }
  });
});

describe("Powens' dates", () => {
  test('zone-less dates are Paris wall-clock time, an offset is honoured, and the emulator writes them the same way', async () => {
    const { userId, b } = newUser();
    const before = Date.now();
    const id = await connectBank(b);
    const [fresh] = (await listConnections(b)).connections;
    // The emulator wrote "now" as Paris wall-clock time; read back as such, it is now again,
    // not an hour or two away.
    expect(Math.abs(Date.parse(fresh?.createdAt ?? '') - before)).toBeLessThan(5 * 60_000);

    knobs().setConnectionField(id, { last_update: '2026-07-14 10:00:00', created: '2026-01-01 12:00:00 +0200', expire: '2099-01-01T00:00:00Z' });
    await stack.built.connections.changed(userId);
    expect((await listConnections(b)).connections[0]).toEqual(
      expect.objectContaining({ lastUpdate: '2026-07-14T08:00:00Z', createdAt: '2026-01-01T10:00:00Z', expiresAt: '2099-01-01T00:00:00Z' }),
    );
  });

  test('POWENS_TIMEZONE changes how zone-less dates are read', async () => {
    const utc = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { POWENS_TIMEZONE: 'UTC' } });
    try {
      const { userId, b } = newUser(utc);
      const id = await connectBank(b);
      knobs().setConnectionField(id, { last_update: '2026-07-14 10:00:00' });
      await utc.built.connections.changed(userId);
      expect((await listConnections(b)).connections[0]?.lastUpdate).toBe('2026-07-14T10:00:00Z');
    } finally {
      await utc.close();
    }
  });
});

describe("Powens' request_id", () => {
  test.each([
    ['an integer', 48213, '48213'],
    ['a string', 'a1b2c3', 'a1b2c3'],
  ])('is in the log line of a failed call when Powens sends %s', async (_what, requestId, logged) => {
    const { userId, b } = newUser();
    await connectBank(b);
    await stack.built.connections.changed(userId);
    knobs().fail('connections.list', { status: 500, body: { code: 'bug', description: 'Internal', message: null, request_id: requestId } });
    const hop = await b.get('/me/connections');
    expectProblem(hop, 502);
    const reference = hop.headers.get('x-request-id') ?? '';
    const line = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['reqId'] === reference && l['detail'] !== undefined);
    expect(reference).not.toBe('');
    expect(line?.['detail']).toEqual(expect.objectContaining({ endpoint: 'connections.list', status: 500, powensCode: 'bug', powensRequestId: logged }));
  });
});

describe('GET /connectors', () => {
  beforeEach(async () => {
    await stack.inspect.del(keys().connectors(stack.config.powens.domain));
  });

  test("answers the domain's connectors (id, uuid, name, capabilities) without any user", async () => {
    const hop = await stack.browser().get('/connectors');
    expect(hop.status).toBe(200);
    expect(hop.headers.get('content-type')).toMatch(/^application\/json/);
    expect(hop.headers.get('cache-control')).toBe('public, max-age=300');
    const body = JSON.parse(hop.text) as { connectors: Record<string, unknown>[] };
    expect(body.connectors).toEqual(CONNECTORS.filter((c) => !c.hidden).map((c) => ({ id: c.id, uuid: c.uuid, name: c.name, capabilities: c.capabilities })));
  });

  test('is cached in Redis for CONNECTORS_CACHE_TTL_SECONDS and shared by every instance', async () => {
    const other = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, prefix: stack.config.redis.prefix });
    try {
      const first = await stack.browser().get('/connectors');
      const second = await other.browser().get('/connectors');
      expect(second.text).toBe(first.text);
      expect(knobs().calls('connectors.list')).toBe(1);
      const key = keys().connectors(stack.config.powens.domain);
      expect(await stack.inspect.get(key)).toBe(first.text);
      const ttl = await stack.inspect.ttl(key);
      expect(ttl).toBeGreaterThan(3500);
      expect(ttl).toBeLessThanOrEqual(3600);
    } finally {
      await other.close();
    }
  });

  test('concurrent requests on a cold cache cost one Powens call', async () => {
    knobs().delay('connectors.list', 200);
    const answers = await Promise.all(Array.from({ length: 8 }, () => stack.browser().get('/connectors')));
    expect(answers.map((a) => a.status)).toEqual(Array<number>(8).fill(200));
    expect(knobs().calls('connectors.list')).toBe(1);
  });

  test('a Powens failure is a 502 problem and caches nothing; the next request asks again', async () => {
    knobs().fail('connectors.list', { status: 503, times: 3 });
    expectProblem(await stack.browser().get('/connectors'), 502);
    expect(await stack.inspect.get(keys().connectors(stack.config.powens.domain))).toBeNull();
    knobs().reset();
    expect((await stack.browser().get('/connectors')).status).toBe(200);
  });

  test('with CONNECTORS_CACHE_TTL_SECONDS=0 every request asks Powens, and nothing is written', async () => {
    const uncached = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { CONNECTORS_CACHE_TTL_SECONDS: '0' } });
    try {
      await uncached.browser().get('/connectors');
      await uncached.browser().get('/connectors');
      expect(knobs().calls('connectors.list')).toBe(2);
      expect(await uncached.inspect.get(createKeys(uncached.config.redis.prefix).connectors(uncached.config.powens.domain))).toBeNull();
    } finally {
      await uncached.close();
    }
  });

  test('is rate limited per IP like the rest of the API', async () => {
    const limited = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { RATE_LIMIT_PER_IP: '2' } });
    try {
      expect((await limited.browser().get('/connectors')).status).toBe(200);
      expect((await limited.browser().get('/connectors')).status).toBe(200);
      const refused = await limited.browser().get('/connectors');
      expectProblem(refused, 429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe('/connect?connector_uuid=', () => {
  test('passes the uuids to the webview as connector_uuids; one bank skips the chooser and is connected', async () => {
    const { b } = newUser();
    const url = new URL(await startConnect(b, `/connect?connector_uuid=${NEOBANK.toUpperCase()}`));
    expect(url.searchParams.get('connector_uuids')).toBe(NEOBANK);
    const walk = await walkWebview(url.href, { kind: 'connect' });
    const cb = await b.get(walk.location.href);
    expect(cb.status).toBe(303);
    expect((await listConnections(b)).connections.map((c) => c.connector.id)).toEqual([338]);
  });

  test('is repeatable, comma-separated too, duplicates dropped', async () => {
    const { b } = newUser();
    const url = new URL(await startConnect(b, `/connect?connector_uuid=${NEOBANK}&connector_uuid=${EXAMPLE},${NEOBANK}`));
    expect(url.searchParams.get('connector_uuids')).toBe(`${NEOBANK},${EXAMPLE}`);
    const walk = await walkWebview(url.href, { kind: 'connect', connectorId: 17 });
    expect((await b.get(walk.location.href)).status).toBe(303);
    expect((await listConnections(b)).connections.map((c) => c.connector.id)).toEqual([17]);
  });

  test('without it, the webview offers every bank (no connector_uuids parameter)', async () => {
    const { b } = newUser();
    const url = new URL(await startConnect(b));
    expect(url.searchParams.has('connector_uuids')).toBe(false);
    expect((await walkWebview(url.href, { kind: 'connect', connectorId: DEMO_BANK_ID })).steps).toEqual(['credentials']);
  });

  test.each([
    ['not a uuid', 'demo-bank'],
    ['an empty value', ''],
    ['a uuid with a trailing comma', `${NEOBANK},`],
    ['too many uuids', Array.from({ length: 51 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join(',')],
  ])('%s is a 400 page: no flow, no Powens call', async (_what, value) => {
    const { b } = newUser();
    const flows = async () => [...(await stack.dump()).keys()].filter((k) => k.includes(':flow:')).length;
    const flowsBefore = await flows();
    const before = knobs().calls();
    const hop = await b.get(`/connect?connector_uuid=${encodeURIComponent(value)}`);
    expect(hop.status).toBe(400);
    expect(hop.location).toBeUndefined();
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
    expect(knobs().calls()).toBe(before);
    expect(await flows()).toBe(flowsBefore);
    expect(b.cookies.size).toBe(0);
  });

  test('a failure before the webview offers to try again with the same banks', async () => {
    const { b } = newUser();
    await connectBank(b);
    knobs().fail('token.code', { status: 500 });
    const page = await b.get(`/connect?connector_uuid=${NEOBANK}&return_to=/banks`);
    expect(page.status).toBe(502);
    const retry = /href="([^"]*)">Start again/.exec(page.text)?.[1]?.replaceAll('&amp;', '&') ?? '';
    const again = new URL(retry, stack.url);
    expect(again.pathname).toBe('/connect');
    expect(again.searchParams.get('connector_uuid')).toBe(NEOBANK);
    expect(again.searchParams.get('return_to')).toBe('/banks');
  });
});
