// Logs and metrics over one scripted mix of flows and faults: a linked bank, a cancelled and a
// forged callback, Powens failing (retried, then given up; and failing once, then answering),
// a rate-limited user and Redis stopped under requests. The logs are read at debug level, every
// line, and /metrics is scraped before, during and after.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { completeWebview } from '../../emulator/index.js';
import { parseMetrics, sampleValue, type Sample } from '../helpers/prometheus.js';
import { waitUntilReady } from '../helpers/service.js';
import { startConnect, startStack, TEST_CLIENT_SECRET, TEST_TOKEN_KEY, type Stack } from '../helpers/stack.js';

const METRICS_TOKEN = 'metrics-token-obs-0123456789abcdef';
let stack: Stack;
/** A second instance on the same Redis without a per-IP limit: there the session store is the first to need Redis. */
let sessions: Stack;

/** Users of the mix: long and distinctive, so that a user id anywhere in a line is found. */
const suffix = randomBytes(6).toString('hex');
const users = {
  linked: `obs-linked-user-${suffix}`,
  cancelled: `obs-cancelled-user-${suffix}`,
  failing: `obs-failing-user-${suffix}`,
  flooding: `obs-flooding-user-${suffix}`,
  outage: `obs-outage-user-${suffix}`,
};
const PER_USER_LIMIT = 4;
/** Powens' request id in the failing answers: a number, as the docs type it. */
const POWENS_REQUEST_ID = 987654321;

interface Line {
  level: string;
  msg: string;
  reqId?: string;
  route?: string;
  userRef?: string;
  responseTime?: number;
  req?: { path: string; method: string };
  res?: { statusCode: number };
  errorCode?: string;
  detail?: Record<string, unknown>;
  powens?: Record<string, unknown>;
}

/** What the mix left behind, read by the tests below. */
const seen = {
  before: [] as Sample[],
  duringOutage: [] as Sample[],
  after: [] as Sample[],
  /** Values that must appear in no log line. */
  secrets: [] as string[],
  /** Request id of the /me/connections that Powens failed with retries. */
  failedListId: '',
  /** Request id of the /me/connections whose first Powens attempt failed. */
  recoveredListId: '',
  /** Request ids of the 503s while Redis was stopped. */
  outageIds: [] as string[],
  /** The second instance: its scrapes and the request id of its 503. */
  sessionsBefore: [] as Sample[],
  sessionsAfter: [] as Sample[],
  sessionOutageId: '',
  from: 0,
};

async function scrape(from: Stack = stack): Promise<Sample[]> {
  const res = await fetch(`${from.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

function lines(): Line[] {
  return stack.logs.slice(seen.from).map((l) => JSON.parse(l) as Line);
}

/** The request's own line: the one with its path and status (written when the response closes). */
const isRequestLine = (l: Line): boolean => l.req !== undefined && l.res !== undefined;

/** The reference the service must log for a user: computed here from the key, independently of src/. */
function expectedRef(userId: string): string {
  const key = Buffer.from(TEST_TOKEN_KEY.slice(TEST_TOKEN_KEY.indexOf(':') + 1), 'base64');
  const refKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'powens-connect-bff/log-user-ref/v1', 32));
  return createHmac('sha256', refKey).update(userId, 'utf8').digest('hex').slice(0, 16);
}

beforeAll(async () => {
  stack = await startStack({
    env: {
      METRICS_TOKEN,
      LOG_LEVEL: 'trace',
      // Every /me/connections asks Powens, and each failed read is tried three times in all.
      CONNECTIONS_CACHE_TTL_SECONDS: '0',
      POWENS_RETRIES: '2',
      POWENS_TIMEOUT_MS: '3000',
      // The per-IP limiter is the first to need Redis on the flow routes; per user, a low limit to hit.
      RATE_LIMIT_PER_IP: '10000',
      RATE_LIMIT_PER_USER: String(PER_USER_LIMIT),
    },
  });
  sessions = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { METRICS_TOKEN, LOG_LEVEL: 'trace' } });
  const knobs = stack.emulator.emulator.knobs;
  // A session for the outage below: its cookie makes the session store read Redis first thing.
  const sessionUser = sessions.browser(users.outage);
  seen.sessionsBefore = await scrape(sessions);
  await startConnect(sessionUser);
  expect(sessionUser.cookies.size).toBe(1);
  // Its connections cache is on: a user with no bank is a miss, then a cached "not linked".
  for (let i = 0; i < 2; i++) expect((await sessionUser.get('/me/connections')).status).toBe(200);
  seen.before = await scrape();
  seen.from = stack.logs.length;

  // 1. A bank linked, then listed.
  const linked = stack.browser(users.linked);
  const back = await completeWebview(await startConnect(linked), { kind: 'connect' });
  expect((await linked.get(back.href)).status).toBe(303);
  expect((await linked.get('/me/connections')).status).toBe(200);
  const token = (await stack.built.tokens.get(users.linked))?.token ?? '';
  expect(token).not.toBe('');
  seen.secrets.push(token, back.searchParams.get('code') ?? '', back.searchParams.get('state') ?? '');

  // 2. A cancelled webview and a forged state: refused callbacks.
  const cancelled = stack.browser(users.cancelled);
  const cancel = await completeWebview(await startConnect(cancelled), { kind: 'cancel' });
  expect((await cancelled.get(cancel.href)).status).toBe(400);
  expect((await cancelled.get('/callback?state=forged-state-0123456789abcdef0123&code=forged-code-0123456789')).status).toBe(400);
  seen.secrets.push(cancel.searchParams.get('state') ?? '');

  // 3. Powens failing: three attempts, then a 502; then one failed attempt and a good answer.
  const failing = stack.browser(users.failing);
  const linkedToo = await completeWebview(await startConnect(failing), { kind: 'connect' });
  expect((await failing.get(linkedToo.href)).status).toBe(303);
  seen.secrets.push((await stack.built.tokens.get(users.failing))?.token ?? '', linkedToo.searchParams.get('code') ?? '');
  knobs.fail('connections.list', { status: 500, times: 3, body: { code: 'bug', description: 'Internal', request_id: POWENS_REQUEST_ID } });
  const failed = await failing.get('/me/connections');
  expect(failed.status).toBe(502);
  seen.failedListId = failed.headers.get('x-request-id') ?? '';
  knobs.fail('connections.list', { status: 503, times: 1 });
  const recovered = await failing.get('/me/connections');
  expect(recovered.status).toBe(200);
  seen.recoveredListId = recovered.headers.get('x-request-id') ?? '';

  // 4. A user over the per-user limit.
  const flooding = stack.browser(users.flooding);
  for (let i = 0; i < PER_USER_LIMIT; i++) expect((await flooding.get('/me/connections')).status).toBe(200);
  expect((await flooding.get('/me/connections')).status).toBe(429);

  // 5. Redis stopped: the flow route's limiter and session, and the API, answer 503.
  const outage = stack.browser(users.outage);
  await stack.testRedis.stop();
  try {
    for (const path of ['/connect', '/me/connections']) {
      const hop = await outage.get(path);
      expect(hop.status).toBe(503);
      seen.outageIds.push(hop.headers.get('x-request-id') ?? '');
    }
    const hop = await sessionUser.get('/connect');
    expect(hop.status).toBe(503);
    seen.sessionOutageId = hop.headers.get('x-request-id') ?? '';
    expect((await fetch(`${stack.url}/readyz`)).status).toBe(503);
    seen.duringOutage = await scrape();
  } finally {
    await stack.testRedis.start();
  }
  await waitUntilReady(stack.url, { what: 'the service to be ready again once Redis is back' });
  await waitUntilReady(sessions.url, { what: 'the second instance to be ready again once Redis is back' });
  seen.after = await scrape();
  seen.sessionsAfter = await scrape(sessions);

  for (const b of [linked, cancelled, failing, flooding, outage, sessionUser]) {
    for (const value of b.cookies.values()) seen.secrets.push(value, decodeURIComponent(value));
  }
  seen.secrets.push(TEST_CLIENT_SECRET, ...Object.values(users));
}, 120_000);

afterAll(async () => {
  await sessions?.close();
  await stack?.close();
});

describe('request logs', () => {
  test('every request has one line with its request id, route, status and response time', () => {
    const requestLines = lines().filter(isRequestLine);
    expect(requestLines.length).toBeGreaterThanOrEqual(20);
    for (const l of requestLines) {
      expect(l).toEqual(
        expect.objectContaining({
          reqId: expect.any(String) as unknown,
          route: expect.any(String) as unknown,
          res: { statusCode: expect.any(Number) as unknown },
          responseTime: expect.any(Number) as unknown,
        }),
      );
    }
    const ids = requestLines.map((l) => l.reqId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('a failed request writes exactly one line at warn or error, its own, with the error code', () => {
    const all = lines();
    const failedLines = all.filter((l) => isRequestLine(l) && (l.res?.statusCode ?? 0) >= 400);
    // The cancelled and forged callbacks, the 502, the 429, the 503s (and the readiness 503).
    expect(failedLines.length).toBeGreaterThanOrEqual(6);
    for (const f of failedLines) {
      const loud = all.filter((l) => l.reqId === f.reqId && (l.level === 'warn' || l.level === 'error'));
      expect(loud).toEqual([f]);
      expect(f.level).toBe((f.res?.statusCode ?? 0) >= 500 ? 'error' : 'warn');
      if (f.route !== '/readyz') expect(f.errorCode).toEqual(expect.any(String));
    }
  });

  test('503s raised by the rate limiter and the session store while Redis is down name their route', () => {
    const byId = new Map(
      lines()
        .filter(isRequestLine)
        .map((l) => [l.reqId, l]),
    );
    expect(seen.outageIds.map((id) => byId.get(id)).map((l) => [l?.route, l?.res?.statusCode, l?.errorCode])).toEqual([
      ['/connect', 503, 'STORE_UNAVAILABLE'],
      ['/me/connections', 503, 'STORE_UNAVAILABLE'],
    ]);
    const sessionLines = sessions.logs.map((l) => JSON.parse(l) as Line).filter((l) => l.reqId === seen.sessionOutageId);
    expect(sessionLines.map((l) => [l.level, l.route, l.res?.statusCode, l.errorCode])).toEqual([['error', '/connect', 503, 'STORE_UNAVAILABLE']]);
  });

  test('lines name a known user by its keyed reference, the same on every request of that user', () => {
    const requestLines = lines().filter(isRequestLine);
    // The outage's requests failed before anyone asked who the user was (the per-IP limit comes first).
    const { outage: _outage, ...signedIn } = users;
    for (const [name, userId] of Object.entries(signedIn)) {
      const ref = expectedRef(userId);
      const withUser = requestLines.filter((l) => l.route !== '/metrics' && l.route !== '/readyz' && l.req?.path !== '/connect' && l.userRef === ref);
      expect([name, withUser.length > 0]).toEqual([name, true]);
    }
    // The user's API requests, failed or not, all carry the same reference.
    const failingApi = requestLines.filter((l) => l.route === '/me/connections' && [seen.failedListId, seen.recoveredListId].includes(l.reqId ?? ''));
    expect(failingApi.map((l) => l.userRef)).toEqual([expectedRef(users.failing), expectedRef(users.failing)]);
    // Requests without a user have no reference: the probes and scrapes.
    expect(requestLines.filter((l) => l.route === '/metrics').every((l) => l.userRef === undefined)).toBe(true);
    // Every reference logged is one of the users': none is made up from anything else.
    const known = new Set(Object.values(users).map(expectedRef));
    expect(lines().every((l) => l.userRef === undefined || known.has(l.userRef))).toBe(true);
  });

  test('lines written by the domain and the Powens client carry the request id, route and user reference', () => {
    const inRequest = lines().filter((l) => l.reqId === seen.failedListId && !isRequestLine(l));
    expect(inRequest.length).toBeGreaterThanOrEqual(3);
    for (const l of inRequest) expect(l).toEqual(expect.objectContaining({ route: '/me/connections', userRef: expectedRef(users.failing) }));
  });

  test('each Powens attempt is at debug with endpoint, status, duration, attempt and Powens request id; the failure is in the request line', () => {
    const attempts = lines().filter((l) => l.reqId === seen.failedListId && l.level === 'debug' && l.powens?.attempt !== undefined);
    expect(attempts.map((l) => [l.powens?.endpoint, l.powens?.status, l.powens?.attempt, l.powens?.powensRequestId])).toEqual([
      ['connections.list', 500, 1, String(POWENS_REQUEST_ID)],
      ['connections.list', 500, 2, String(POWENS_REQUEST_ID)],
      ['connections.list', 500, 3, String(POWENS_REQUEST_ID)],
    ]);
    for (const a of attempts) expect(a.powens?.durationMs).toEqual(expect.any(Number));
    const line = lines().find((l) => l.reqId === seen.failedListId && isRequestLine(l));
    expect(line).toEqual(
      expect.objectContaining({
        level: 'error',
        errorCode: 'POWENS_UNAVAILABLE',
        detail: expect.objectContaining({ endpoint: 'connections.list', status: 500, attempts: 3, powensRequestId: String(POWENS_REQUEST_ID) }) as unknown,
      }),
    );
  });

  test('a request whose first Powens attempt failed and whose retry answered is served, with no line above info', () => {
    const mine = lines().filter((l) => l.reqId === seen.recoveredListId);
    expect(mine.filter((l) => l.powens?.attempt !== undefined).map((l) => [l.powens?.status, l.powens?.attempt])).toEqual([
      [503, 1],
      [200, 2],
    ]);
    expect(mine.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
    expect(mine.find(isRequestLine)).toEqual(expect.objectContaining({ level: 'info', res: { statusCode: 200 } }));
  });

  test('no line, at any level, holds a user id, token, code, state, client secret or session cookie', () => {
    const text = [...stack.logs.slice(seen.from), ...sessions.logs].join('\n');
    expect(seen.secrets.length).toBeGreaterThanOrEqual(15);
    for (const s of seen.secrets) {
      expect(s.length).toBeGreaterThanOrEqual(10);
      expect([s, text.includes(s)]).toEqual([s, false]);
    }
    expect(text).not.toMatch(/code=|state=|forged-(state|code)/);
  });
});

describe('metrics after the mix', () => {
  const delta = (name: string, labels: Record<string, string> = {}): number => sampleValue(seen.after, name, labels) - sampleValue(seen.before, name, labels);

  test('Powens retries are counted once per retry, and each call once by outcome', () => {
    // 2 retries of the call given up, 1 of the call that recovered.
    expect(delta('powens_request_retries_total', { endpoint: 'connections.list' })).toBe(3);
    expect(delta('powens_request_duration_seconds_count', { endpoint: 'connections.list', outcome: 'error' })).toBe(1);
    expect(delta('powens_request_errors_total', { endpoint: 'connections.list', code: 'POWENS_UNAVAILABLE' })).toBe(1);
    expect(delta('powens_request_duration_seconds_count', { endpoint: 'token.access', outcome: 'ok' })).toBe(2);
    expect(delta('powens_users_created_total', { reason: 'exchange' })).toBe(2);
  });

  test('Redis commands are timed by operation, and redis_up is 0 while Redis is stopped and 1 once it is back', () => {
    for (const operation of ['session_get', 'session_set', 'rate_limit_ip', 'rate_limit_user', 'flow_create', 'flow_take', 'token_read', 'token_write']) {
      expect([operation, delta('redis_command_duration_seconds_count', { operation }) > 0]).toEqual([operation, true]);
    }
    expect(sampleValue(seen.duringOutage, 'redis_up')).toBe(0);
    expect(sampleValue(seen.after, 'redis_up')).toBe(1);
  });

  test('a 503 from the limiter or session store while Redis is down is counted under its route, none under "unmatched"', () => {
    expect(delta('http_request_duration_seconds_count', { method: 'GET', route: '/connect', status: '503' })).toBe(1);
    expect(delta('http_request_duration_seconds_count', { method: 'GET', route: '/me/connections', status: '503' })).toBe(1);
    expect(delta('http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '503' })).toBe(0);
    expect(delta('redis_errors_total', { kind: 'command' })).toBeGreaterThanOrEqual(2);
    // The second instance has no per-IP limit: its 503 came from the session store (its read timed, failed).
    const sessionsDelta = (name: string, labels: Record<string, string>): number =>
      sampleValue(seen.sessionsAfter, name, labels) - sampleValue(seen.sessionsBefore, name, labels);
    expect(sessionsDelta('http_request_duration_seconds_count', { method: 'GET', route: '/connect', status: '503' })).toBe(1);
    expect(sessionsDelta('http_request_duration_seconds_count', { route: 'unmatched', status: '503' })).toBe(0);
    expect(sessionsDelta('redis_command_duration_seconds_count', { operation: 'session_get' })).toBe(1);
    expect(sampleValue(seen.sessionsAfter, 'redis_command_duration_seconds_count', { operation: 'rate_limit_ip' })).toBe(0);
  });

  test('connections cache lookups are counted by event', () => {
    const sessionsDelta = (labels: Record<string, string>): number =>
      sampleValue(seen.sessionsAfter, 'connections_cache_events_total', labels) - sampleValue(seen.sessionsBefore, 'connections_cache_events_total', labels);
    // A user with no link is cached too (as null): the second look is a hit. negative_hit is a
    // kept Powens failure (connections-cache-outage.test.ts), and none happened here.
    expect([sessionsDelta({ event: 'miss' }), sessionsDelta({ event: 'hit' }), sessionsDelta({ event: 'negative_hit' })]).toEqual([1, 1, 0]);
  });

  test('rate-limit refusals are counted by limiter', () => {
    expect(delta('rate_limit_rejections_total', { limiter: 'user' })).toBe(1);
    expect(delta('rate_limit_rejections_total', { limiter: 'ip' })).toBe(0);
  });

  test('readiness, requests in flight and build info', () => {
    expect(sampleValue(seen.duringOutage, 'service_ready')).toBe(0);
    expect(sampleValue(seen.after, 'service_ready')).toBe(1);
    // The scrape itself is the one request in flight when the registry is read.
    expect(sampleValue(seen.after, 'http_requests_in_flight')).toBe(1);
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(sampleValue(seen.after, 'build_info', { version, commit: 'unknown', node: process.version })).toBe(1);
  });
});
