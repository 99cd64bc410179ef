// Webhooks (docs/REFERENCE.md, "Webhooks"; README, "Webhooks and the connections cache"): the
// emulator delivers over HTTP as Powens does (one URL per event, signed over the path), and raw
// requests cover what Powens would never send.
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { webhookUrl, type SendWebhookOptions, type WebhookDelivery } from '../../emulator/index.js';
import { connectBank, expectProblem, freshUser, listConnections } from '../helpers/api.js';
import type { Browser, Hop } from '../helpers/browser.js';
import { parseMetrics, sampleValue } from '../helpers/prometheus.js';
import { connect, status, type RawConnection } from '../helpers/raw-http.js';
import { freePort } from '../helpers/ports.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';
import { createKeys } from '../../src/storage/keys.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;
const MAX_BODIES = 2;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { WEBHOOK_HMAC_SECRET: SECRET, WEBHOOK_MAX_BODIES_IN_FLIGHT: String(MAX_BODIES) } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;
const signed: SendWebhookOptions = { hmacSecret: SECRET };

interface Linked {
  userId: string;
  b: Browser;
  connectionId: number;
  powensUserId: number;
  token: string;
}

/** An app user linked through the real flow, with its connections list already cached. */
async function linkedUser(s: Stack = stack): Promise<Linked> {
  const { userId, b } = freshUser(s);
  const connectionId = await connectBank(b);
  const stored = await s.built.tokens.get(userId);
  if (stored === null || stored.powensUserId === null) throw new Error('the flow stored no token');
  await listConnections(b);
  return { userId, b, connectionId, powensUserId: stored.powensUserId, token: stored.token };
}

/** The emulator delivers `payload` to the URL registered for `event` (or to `url`), and the work it caused is awaited. */
async function deliver(
  event: string,
  payload: unknown,
  options: SendWebhookOptions,
  s: Stack = stack,
  url = webhookUrl(s.url, event),
): Promise<WebhookDelivery> {
  const res = await knobs().sendWebhook(url, payload, options);
  await s.built.webhooks.idle();
  return res;
}

/** A POST straight to the service (not through PUBLIC_URL), for deliveries the emulator would never send. */
async function post(path: string, body: Uint8Array | string, headers: Record<string, string>, s: Stack = stack): Promise<Hop> {
  const res = await fetch(`${s.server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  await s.built.webhooks.idle();
  return { status: res.status, location: res.headers.get('location') ?? undefined, headers: res.headers, text, url: res.url };
}

/** Powens' documented signature, computed here by the test itself (not by the emulator or the service). */
function signedHeaders(path: string, body: Buffer | string, date = new Date().toISOString()): Record<string, string> {
  const signature = createHmac('sha256', SECRET).update(`POST.${path}.${date}.`).update(body).digest('base64');
  return { 'bi-signature-date': date, 'bi-signature': signature };
}

/** Headers that pass every check made before the body is read, with a signature that will not match. */
function forgedHeaders(): Record<string, string> {
  return { 'bi-signature-date': new Date().toISOString(), 'bi-signature': randomBytes(32).toString('base64') };
}

async function statusOf(l: Linked): Promise<string | undefined> {
  return (await listConnections(l.b)).connections.find((c) => c.id === l.connectionId)?.status;
}

async function seenMarks(s: Stack = stack): Promise<string[]> {
  return [...(await s.dump()).keys()].filter((k) => k.includes('webhook-seen:'));
}

async function metric(name: string, labels: Record<string, string> = {}, s: Stack = stack): Promise<number> {
  return sampleValue(parseMetrics(await s.built.metrics.registry.metrics()), name, labels);
}

function portOf(s: Stack): number {
  return Number(new URL(s.server.url).port);
}

/**
 * A request whose headers are sent in full, declaring a body of `contentLength` bytes, of which
 * only `sent` are sent. The body's rest can be sent later with `conn.socket.write`.
 */
async function headersOnly(path: string, headers: Record<string, string>, contentLength: number, sent = '', s: Stack = stack): Promise<RawConnection> {
  const conn = await connect(portOf(s));
  // The server may close while a test still writes: that is the point, not a failure.
  conn.socket.on('error', () => undefined);
  const lines = Object.entries({ 'content-type': 'application/json', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  conn.socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${contentLength}\r\n${lines.join('')}\r\n${sent}`);
  return conn;
}

/** The one response to a request whose body was never sent, and the proof that the server closed the connection instead of reading it. */
async function answeredUnread(conn: RawConnection): Promise<string> {
  const [response = ''] = await conn.responses(1);
  await withinDeadline(conn.closed, 10_000, 'the server to close the connection whose body it did not read');
  return response;
}

describe('one URL per event', () => {
  test('each event has its own URL; the name may be written in any case, with - or _', async () => {
    const l = await linkedUser();
    const cases: [string, string | null, string][] = [
      ['CONNECTION_SYNCED', 'SCARequired', 'action_needed'],
      ['connection-synced', 'bug', 'temporary_error'],
      ['Connection_Synced', null, 'ok'],
    ];
    for (const [name, state, shown] of cases) {
      knobs().setConnectionState(l.connectionId, state);
      const res = await deliver(name, knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }), signed);
      expect({ name, url: res.url, status: res.status, body: res.body }).toEqual({
        name,
        url: `${stack.url}/webhooks/powens/${name}`,
        status: 202,
        body: JSON.stringify({ status: 'accepted' }),
      });
      expect(await statusOf(l)).toBe(shown);
    }
  });

  test('the older ?event= form keeps working, its signature covering the path without the query', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const res = await deliver('CONNECTION_SYNCED', payload, signed, stack, `${stack.url}/webhooks/powens?event=connection-synced`);
    expect(res.status).toBe(202);
    expect(await statusOf(l)).toBe('action_needed');
  });

  test('a signature over the path with its query is refused', async () => {
    const l = await linkedUser();
    const body = JSON.stringify({ id_webhook_data: Date.now(), id: l.powensUserId });
    const hop = await post('/webhooks/powens?event=USER_DELETED', body, signedHeaders('/webhooks/powens?event=USER_DELETED', body));
    expectProblem(hop, 401);
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
  });

  test("a body signed for one event's URL is refused at another's: the event is part of what is signed", async () => {
    const l = await linkedUser();
    const id = Date.now();
    const body = JSON.stringify({ id_webhook_data: id, id: l.powensUserId, signin: '2024-01-02 03:04:05' });
    const hop = await post('/webhooks/powens/USER_DELETED', body, signedHeaders('/webhooks/powens/USER_CREATED', body));
    expectProblem(hop, 401);
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
    expect(await seenMarks()).not.toContainEqual(expect.stringContaining(String(id)));
  });

  test("on the query form, where the event is not signed, another event's body posted as USER_DELETED drops no token", async () => {
    const l = await linkedUser();
    // A connection whose id happens to be another person's Powens user id.
    const victim = await linkedUser();
    const bodies = [
      { id: victim.powensUserId, id_user: l.powensUserId, id_connector: 59, deleted: '2024-01-02 03:04:05' },
      knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }),
    ];
    for (const [i, payload] of bodies.entries()) {
      const text = JSON.stringify({ id_webhook_data: Date.now() * 10 + i, ...payload });
      const hop = await post('/webhooks/powens?event=USER_DELETED', text, signedHeaders('/webhooks/powens', text));
      expect({ status: hop.status, body: hop.text }).toEqual({ status: 200, body: JSON.stringify({ status: 'ignored' }) });
    }
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
    expect(await stack.built.tokens.get(victim.userId)).not.toBeNull();
  });

  test('a delivery received once is a duplicate under any other event name', async () => {
    const l = await linkedUser();
    // A user-shaped body of an event the service ignores, then the same signed body as USER_DELETED.
    const text = JSON.stringify({ id_webhook_data: Date.now(), id: l.powensUserId, signin: '2024-01-02 03:04:05' });
    const headers = signedHeaders('/webhooks/powens', text);
    const first = await post('/webhooks/powens?event=USER_CREATED', text, headers);
    expect(JSON.parse(first.text)).toEqual({ status: 'ignored' });
    const replayed = await post('/webhooks/powens?event=USER_DELETED', text, headers);
    expect({ status: replayed.status, body: JSON.parse(replayed.text) as unknown }).toEqual({ status: 200, body: { status: 'duplicate' } });
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
  });

  test('an event the service does not act on is acknowledged (2xx, so Powens does not retry it) and ignored', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const res = await deliver('ACCOUNT_SYNCED', { id: 1, id_user: l.powensUserId, id_connection: l.connectionId, balance: 10 }, signed);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: JSON.stringify({ status: 'ignored' }) });
    for (const url of [`${stack.url}/webhooks/powens?event=`, `${stack.url}/webhooks/powens`, `${stack.url}/webhooks/powens/not%20an%20event`]) {
      const unnamed = await deliver('', { id_user: l.powensUserId }, signed, stack, url);
      expect({ url, status: unnamed.status, body: unnamed.body }).toEqual({ url, status: 200, body: JSON.stringify({ status: 'ignored' }) });
    }
    expect(await statusOf(l)).toBe('ok');
  });
});

describe('signature', () => {
  test('a signature made with another secret is a 401 problem and changes nothing', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const res = await deliver('CONNECTION_SYNCED', payload, { hmacSecret: `${SECRET}-not` });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual(expect.objectContaining({ status: 401, code: 'WEBHOOK_UNAUTHORIZED' }));
    expect(await statusOf(l)).toBe('ok');
    expect(await seenMarks()).not.toContainEqual(expect.stringContaining(String(res.idWebhookData)));
  });

  test('the signature date must be within WEBHOOK_MAX_AGE_S (300 s by default) either way, with a zone', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId });
    const minutes = (n: number): Date => new Date(Date.now() + n * 60_000);
    const refused = [minutes(-6), minutes(6), 'yesterday', minutes(-1).toISOString().replace('Z', ''), minutes(-1).toUTCString()];
    for (const date of refused) {
      const res = await deliver('USER_DELETED', payload, { ...signed, date });
      expect({ date, status: res.status }).toEqual({ date, status: 401 });
    }
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
    // Four minutes old, written in +02:00 rather than Z: within the window.
    const inParis = new Date(minutes(-4).getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    const late = await deliver('USER_DELETED', payload, { ...signed, date: inParis });
    expect(late.status).toBe(202);
    expect(await stack.built.tokens.get(l.userId)).toBeNull();
  });

  test('the signature may cover the gzip body as sent, or the JSON it inflates to', async () => {
    const l = await linkedUser();
    for (const [signCompressed, state, shown] of [
      [false, 'bug', 'temporary_error'],
      [true, 'wrongpass', 'action_needed'],
    ] as const) {
      knobs().setConnectionState(l.connectionId, state);
      const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
      const res = await deliver('CONNECTION_SYNCED', payload, { ...signed, gzip: true, signCompressed });
      expect({ signCompressed, status: res.status }).toEqual({ signCompressed, status: 202 });
      expect(await statusOf(l)).toBe(shown);
    }
  });
});

describe('refused before the body is read', () => {
  const path = '/webhooks/powens/USER_DELETED';
  const date = (): string => new Date().toISOString();
  const sig = (): string => randomBytes(32).toString('base64');
  const cases: [string, () => Record<string, string>, number][] = [
    ['no credential at all', () => ({}), 401],
    ['a bearer token while WEBHOOK_HMAC_SECRET is set', () => ({ authorization: `Bearer ${randomBytes(24).toString('base64url')}` }), 401],
    ['a signature that is not base64', () => ({ 'bi-signature': 'x', 'bi-signature-date': date() }), 401],
    ['a signature of 31 bytes', () => ({ 'bi-signature': randomBytes(31).toString('base64'), 'bi-signature-date': date() }), 401],
    ['a signature in hex', () => ({ 'bi-signature': randomBytes(32).toString('hex'), 'bi-signature-date': date() }), 401],
    ['no signature date', () => ({ 'bi-signature': sig() }), 401],
    ['an unparseable signature date', () => ({ 'bi-signature': sig(), 'bi-signature-date': 'yesterday' }), 401],
    ['a signature date ten minutes old', () => ({ 'bi-signature': sig(), 'bi-signature-date': new Date(Date.now() - 600_000).toISOString() }), 401],
    ['a declared size over WEBHOOK_BODY_LIMIT_BYTES', () => forgedHeaders(), 413],
    ['an encoding other than gzip', () => ({ ...forgedHeaders(), 'content-encoding': 'br' }), 415],
  ];

  test.each(cases)('%s: answered at once, the connection closed, the body never read', async (_name, headers, expected) => {
    const marks = await seenMarks();
    const size = expected === 413 ? stack.config.webhookBodyLimitBytes + 1 : 1024 * 1024;
    const conn = await headersOnly(path, headers(), size);
    const response = await answeredUnread(conn);
    expect(status(response)).toBe(expected);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(await metric('webhook_bodies_in_flight')).toBe(0);
    expect(await seenMarks()).toEqual(marks);
  });

  test(`past ${MAX_BODIES} bodies in flight, one more delivery is a 503 with Retry-After, unread; the bound frees up as bodies end`, async () => {
    const throttled = await metric('webhook_deliveries_total', { event: 'USER_DELETED', outcome: 'throttled' });
    const body = JSON.stringify({ id_webhook_data: 1, id: 1, pad: 'x'.repeat(200) });
    const slow = await Promise.all(Array.from({ length: MAX_BODIES }, () => headersOnly(path, forgedHeaders(), body.length, body.slice(0, 10))));
    await waitFor(async () => (await metric('webhook_bodies_in_flight')) === MAX_BODIES, { timeoutMs: 5000, what: `${MAX_BODIES} bodies in flight` });

    const extra = await headersOnly(path, forgedHeaders(), 1024 * 1024);
    const response = await answeredUnread(extra);
    expect(status(response)).toBe(503);
    expect(response).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(await metric('webhook_deliveries_total', { event: 'USER_DELETED', outcome: 'throttled' })).toBe(throttled + 1);

    // The slow bodies end: their (forged) signatures are checked and refused, and the bound frees up.
    for (const conn of slow) conn.socket.write(body.slice(10));
    const answers = await Promise.all(slow.map(async (conn) => status((await conn.responses(1))[0])));
    expect(answers).toEqual(Array<number>(MAX_BODIES).fill(401));
    for (const conn of slow) conn.socket.destroy();
    expect(await metric('webhook_bodies_in_flight')).toBe(0);
    const l = await linkedUser();
    const res = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId }), signed);
    expect(res.status).toBe(202);
  });

  test('a client that goes away mid-body frees its place', async () => {
    const conn = await headersOnly(path, forgedHeaders(), 1000, '{"id_webhook_data": 1');
    await waitFor(async () => (await metric('webhook_bodies_in_flight')) === 1, { timeoutMs: 5000, what: 'the body in flight' });
    conn.socket.destroy();
    await waitFor(async () => (await metric('webhook_bodies_in_flight')) === 0, { timeoutMs: 5000, what: 'no body in flight' });
  });
});

describe('per-IP rate limit (RATE_LIMIT_WEBHOOK_PER_IP)', () => {
  let limited: Stack;
  beforeAll(async () => {
    limited = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, env: { WEBHOOK_HMAC_SECRET: SECRET, RATE_LIMIT_WEBHOOK_PER_IP: '2' } });
  });
  afterAll(async () => {
    await limited.close();
  });

  test('past the limit a delivery is a 429 with Retry-After before its body is read; deliveries refused from the headers alone do not count', async () => {
    const path = '/webhooks/powens/CONNECTION_SYNCED';
    for (let i = 0; i < 3; i++) expectProblem(await post(path, '{}', {}, limited), 401);
    for (let i = 0; i < 2; i++) expectProblem(await post(path, '{"id_webhook_data": 5}', forgedHeaders(), limited), 401);
    const response = await answeredUnread(await headersOnly(path, forgedHeaders(), 1024 * 1024, '', limited));
    expect(status(response)).toBe(429);
    expect(response).toMatch(/\r\nretry-after: \d+\r\n/i);
    expect(await metric('rate_limit_rejections_total', { limiter: 'webhook_ip' }, limited)).toBe(1);
    expect(await metric('webhook_deliveries_total', { event: 'CONNECTION_SYNCED', outcome: 'throttled' }, limited)).toBe(1);
    expect(await seenMarks(limited)).toEqual([]);
  });
});

describe('bodies', () => {
  test('a first-sync sized payload (several MB) is accepted, plain or gzip', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const transactions = Array.from({ length: 20_000 }, (_, i) => ({ id: i + 1, wording: `CARTE X1234 ACHAT ${'x'.repeat(160)}`, value: -1.5 }));
    const big = { ...payload, connection: { ...(payload['connection'] as object), accounts: [{ id: 1, transactions }] } };
    expect(JSON.stringify(big).length).toBeGreaterThan(4 * 1024 * 1024);
    expect((await deliver('CONNECTION_SYNCED', big, signed)).status).toBe(202);
    expect((await deliver('CONNECTION_SYNCED', big, { ...signed, gzip: true })).status).toBe(202);
  });

  test('a body whose size is not declared (chunked) is a 413 once it passes the limit, the rest unread', async () => {
    const conn = await connect(portOf(stack));
    conn.socket.on('error', () => undefined);
    const lines = Object.entries({ ...forgedHeaders(), 'transfer-encoding': 'chunked' }).map(([k, v]) => `${k}: ${v}\r\n`);
    conn.socket.write(`POST /webhooks/powens/CONNECTION_SYNCED HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines.join('')}\r\n`);
    const chunk = 'x'.repeat(64 * 1024);
    const answered = conn.responses(1);
    // One chunk past the limit is sent, then the client waits: the server answers without the end of the body.
    for (let sent = 0; sent <= stack.config.webhookBodyLimitBytes; sent += chunk.length) {
      if (!conn.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`)) await new Promise((r) => conn.socket.once('drain', r));
    }
    const [response] = await answered;
    expect(status(response)).toBe(413);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    await withinDeadline(conn.closed, 10_000, 'the server to close the connection past the body limit');
    expect(await metric('webhook_bodies_in_flight')).toBe(0);
  });

  test('a small gzip body that inflates past the limit (a gzip bomb) is a 413 problem', async () => {
    const bomb = gzipSync(Buffer.alloc(stack.config.webhookBodyLimitBytes * 4, 0x20));
    expect(bomb.length).toBeLessThan(stack.config.webhookBodyLimitBytes / 10);
    const path = '/webhooks/powens/CONNECTION_SYNCED';
    const hop = await post(path, new Uint8Array(bomb), { 'content-encoding': 'gzip', ...signedHeaders(path, bomb) });
    expectProblem(hop, 413);
  });

  test('a body that is not gzip although it says so is a 400 problem', async () => {
    const path = '/webhooks/powens/CONNECTION_SYNCED';
    const body = '{"id_webhook_data": 1}';
    expectProblem(await post(path, body, { 'content-encoding': 'gzip', ...signedHeaders(path, body) }), 400);
  });

  test('malformed JSON, correctly signed, is a 400 problem', async () => {
    const res = await deliver('CONNECTION_SYNCED', '{"id_webhook_data": 12, "user": {', signed);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual(expect.objectContaining({ status: 400, code: 'BAD_REQUEST' }));
    const notObject = await deliver('CONNECTION_SYNCED', '[1, 2]', signed);
    expect(notObject.status).toBe(400);
  });
});

describe('delivery', () => {
  test('a replayed id_webhook_data is acknowledged as a duplicate and not acted on again', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const first = await deliver('CONNECTION_SYNCED', payload, signed);
    expect(first.status).toBe(202);
    expect(await seenMarks()).toContainEqual(expect.stringMatching(new RegExp(`webhook-seen:${String(first.idWebhookData)}$`)));
    // The emulator gave the first delivery its id; the same delivery comes again.
    const replayed = { ...payload, id_webhook_data: first.idWebhookData };
    await listConnections(l.b);
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const second = await deliver('CONNECTION_SYNCED', replayed, signed);
    expect(second.status).toBe(200);
    expect(JSON.parse(second.body)).toEqual({ status: 'duplicate' });
    // The cache filled after the first delivery was not refreshed by the replay.
    expect(await statusOf(l)).toBe('ok');
  });

  test('a delivery about a Powens user the service does not know is accepted and changes nothing', async () => {
    const stranger = knobs().addUser();
    const res = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: stranger.userId }), signed);
    expect(res.status).toBe(202);
    expect(stack.logs.some((l) => l.includes('Powens user the service does not know') && l.includes(`"powensUserId":${stranger.userId}`))).toBe(true);
  });
});

describe('effects', () => {
  test('CONNECTION_DELETED (the connection object: id, id_user) removes the connection from the next list', async () => {
    const l = await linkedUser();
    // Deleted at Powens behind the service's back (in the webview, by support...).
    await stack.powens.deleteConnection(l.token, l.connectionId);
    expect((await listConnections(l.b)).connections.map((c) => c.id)).toEqual([l.connectionId]);
    const payload = knobs().webhookPayload('CONNECTION_DELETED', { connectionId: l.connectionId, userId: l.powensUserId });
    expect(payload).toEqual(expect.objectContaining({ id: l.connectionId, id_user: l.powensUserId }));
    expect((await deliver('CONNECTION_DELETED', payload, signed)).status).toBe(202);
    expect(await listConnections(l.b)).toEqual({ linked: true, connections: [] });
  });

  test('USER_DELETED (the user object, id at the top) drops the stored token and the cached list', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId });
    expect(payload).toEqual(expect.objectContaining({ id: l.powensUserId }));
    expect((await deliver('USER_DELETED', payload, signed)).status).toBe(202);
    expect(await stack.built.tokens.get(l.userId)).toBeNull();
    expect(await listConnections(l.b)).toEqual({ linked: false, connections: [] });
    // Neither the token nor the Powens-user index is left (the list just read is cached as "not linked").
    const keys = createKeys(stack.config.redis.prefix);
    const left = [...(await stack.dump()).keys()];
    expect(left.filter((k) => k === keys.token(l.userId) || k === keys.powensUser(l.powensUserId))).toEqual([]);
  });

  test('USER_DELETED with the user under `user` is read too', async () => {
    const l = await linkedUser();
    expect((await deliver('USER_DELETED', { user: { id: l.powensUserId, signin: '2024-01-02 03:04:05' } }, signed)).status).toBe(202);
    expect(await stack.built.tokens.get(l.userId)).toBeNull();
  });

  test('the emulator sends a built webhook over HTTP (POST /__emulator/webhooks/send) to {base}/webhooks/powens/{EVENT}', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'passwordExpired');
    const res = await fetch(`${stack.emulator.url}/__emulator/webhooks/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ base: stack.url, event: 'CONNECTION_SYNCED', connectionId: l.connectionId, hmacSecret: SECRET, gzip: true }),
    });
    expect(res.status).toBe(200);
    const delivery = (await res.json()) as { url: string; status: number; body: string; idWebhookData: unknown };
    expect(delivery).toEqual(
      expect.objectContaining({ url: `${stack.url}/webhooks/powens/CONNECTION_SYNCED`, status: 202, idWebhookData: expect.any(Number) as unknown as number }),
    );
    await stack.built.webhooks.idle();
    expect(await statusOf(l)).toBe('action_needed');
  });
});

describe('metrics', () => {
  test('every delivery is counted by event and outcome; the gauges come back to 0', async () => {
    const count = (event: string, outcome: string): Promise<number> => metric('webhook_deliveries_total', { event, outcome });
    const before = {
      accepted: await count('CONNECTION_SYNCED', 'accepted'),
      duplicate: await count('CONNECTION_SYNCED', 'duplicate'),
      ignored: await count('other', 'ignored'),
      unauthorized: await count('USER_DELETED', 'unauthorized'),
      rejected: await count('CONNECTION_SYNCED', 'rejected'),
    };
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const first = await deliver('CONNECTION_SYNCED', payload, signed);
    await deliver('CONNECTION_SYNCED', { ...payload, id_webhook_data: first.idWebhookData }, signed);
    await deliver('TRANSACTION_ATTRIBUTES', { id_user: l.powensUserId }, signed);
    await deliver('USER_DELETED', { id: l.powensUserId }, { bearer: l.token });
    await deliver('CONNECTION_SYNCED', '[]', signed);
    expect({
      accepted: await count('CONNECTION_SYNCED', 'accepted'),
      duplicate: await count('CONNECTION_SYNCED', 'duplicate'),
      ignored: await count('other', 'ignored'),
      unauthorized: await count('USER_DELETED', 'unauthorized'),
      rejected: await count('CONNECTION_SYNCED', 'rejected'),
    }).toEqual({
      accepted: before.accepted + 1,
      duplicate: before.duplicate + 1,
      ignored: before.ignored + 1,
      unauthorized: before.unauthorized + 1,
      rejected: before.rejected + 1,
    });
    expect(await metric('webhook_queue_depth')).toBe(0);
    expect(await metric('webhook_bodies_in_flight')).toBe(0);
  });
});

describe('Redis failing', () => {
  test('the rate limit cannot count: 503 with Retry-After before the body is read, and the service answers again once Redis is back', async () => {
    stack.testRedis.pause();
    try {
      const response = await answeredUnread(await headersOnly('/webhooks/powens/USER_DELETED', forgedHeaders(), 1024 * 1024));
      expect(status(response)).toBe(503);
      expect(response).toMatch(/\r\nretry-after: \d+\r\n/i);
      expect(response).toMatch(/\r\nconnection: close\r\n/i);
    } finally {
      stack.testRedis.resume();
    }
    const l = await linkedUser();
    expect((await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId }), signed)).status).toBe(202);
  });

  test('work that fails after the 202 is counted as failed and logged', async () => {
    const powensUserId = 900_000_000 + Math.floor(Math.random() * 1_000_000);
    const keys = createKeys(stack.config.redis.prefix);
    // The Powens-user index entry is not a string: reading it fails (WRONGTYPE).
    await stack.inspect.hset(keys.powensUser(powensUserId), 'x', '1');
    const failed = await metric('webhook_deliveries_total', { event: 'CONNECTION_DELETED', outcome: 'failed' });
    const res = await deliver('CONNECTION_DELETED', { id: 1, id_user: powensUserId }, signed);
    expect(res.status).toBe(202);
    expect(await metric('webhook_deliveries_total', { event: 'CONNECTION_DELETED', outcome: 'failed' })).toBe(failed + 1);
    expect(stack.logs.some((line) => line.includes('webhook work failed'))).toBe(true);
    await stack.inspect.del(keys.powensUser(powensUserId));
  });
});

describe('without WEBHOOK_HMAC_SECRET: the bearer token of the user concerned', () => {
  let bare: Stack;
  beforeAll(async () => {
    bare = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator });
  });
  afterAll(async () => {
    await bare.close();
  });

  test("the user's own token is accepted", async () => {
    const l = await linkedUser(bare);
    knobs().setConnectionState(l.connectionId, 'wrongpass');
    const res = await deliver('CONNECTION_SYNCED', knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }), { bearer: l.token }, bare);
    expect(res.status).toBe(202);
    expect((await listConnections(l.b)).connections.map((c) => c.status)).toEqual(['action_needed']);
    const deleted = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId }), { bearer: l.token }, bare);
    expect(deleted.status).toBe(202);
    expect(await bare.built.tokens.get(l.userId)).toBeNull();
  });

  test("a wrong bearer, or another user's token, is a 401 and changes nothing", async () => {
    const l = await linkedUser(bare);
    const other = await linkedUser(bare);
    const marks = await seenMarks(bare);
    const payload = knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId });
    for (const bearer of [`${l.token}x`, other.token, 'not-a-token']) {
      const res = await deliver('USER_DELETED', payload, { bearer }, bare);
      expect(res.status).toBe(401);
    }
    expect(await bare.built.tokens.get(l.userId)).not.toBeNull();
    expect(await bare.built.tokens.get(other.userId)).not.toBeNull();
    expect(await seenMarks(bare)).toEqual(marks);
  });

  test('a signature is not a credential there, and no credential is refused before the body is read', async () => {
    const l = await linkedUser(bare);
    const res = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId }), signed, bare);
    expect(res.status).toBe(401);
    const response = await answeredUnread(await headersOnly('/webhooks/powens/USER_DELETED', {}, 1024 * 1024, '', bare));
    expect(status(response)).toBe(401);
    expect(await bare.built.tokens.get(l.userId)).not.toBeNull();
  });

  test('neither the token nor the signature reaches the logs', async () => {
    const l = await linkedUser(bare);
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    await deliver('CONNECTION_SYNCED', payload, { bearer: l.token }, bare);
    await deliver('CONNECTION_SYNCED', payload, { bearer: `${l.token}x`, hmacSecret: SECRET }, bare);
    const logs = bare.logs.join('\n');
    expect(logs).toContain('/webhooks/powens/CONNECTION_SYNCED');
    expect(logs).not.toContain(l.token);
    expect(logs).not.toMatch(/bi-signature/i);
  });
});

describe("behind a proxy that strips PUBLIC_URL's path", () => {
  let proxied: Stack;
  let proxy: http.Server;
  let target = '';
  beforeAll(async () => {
    const port = await freePort();
    // A reverse proxy serving the service under /bank, which it strips.
    proxy = http.createServer((req, res) => {
      const url = req.url ?? '/';
      if (!url.startsWith('/bank/')) {
        res.writeHead(404).end();
        return;
      }
      const upstream = http.request(`${target}${url.slice('/bank'.length)}`, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    proxied = await startStack({
      testRedis: stack.testRedis,
      emulator: stack.emulator,
      env: { WEBHOOK_HMAC_SECRET: SECRET, PUBLIC_URL: `http://127.0.0.1:${port}/bank` },
    });
    target = proxied.server.url;
  });
  afterAll(async () => {
    await proxied.close();
    await new Promise((resolve) => proxy.close(resolve));
  });

  test('a delivery to PUBLIC_URL/webhooks/powens/{EVENT} is signed over /bank/webhooks/...; the service checks it over that path', async () => {
    const user = knobs().addUser();
    const userId = `user-${randomBytes(6).toString('hex')}`;
    await proxied.built.tokens.putIfAbsent(userId, { token: user.token, powensUserId: user.userId, createdAt: new Date().toISOString() });
    const payload = knobs().webhookPayload('USER_DELETED', { userId: user.userId });

    // Straight to the service, signed over the path it sees: not what Powens signs.
    const text = JSON.stringify({ id_webhook_data: Date.now(), ...payload });
    expectProblem(await post('/webhooks/powens/USER_DELETED', text, signedHeaders('/webhooks/powens/USER_DELETED', text), proxied), 401);
    expect(await proxied.built.tokens.get(userId)).not.toBeNull();

    const res = await deliver('USER_DELETED', payload, signed, proxied, webhookUrl(proxied.url, 'USER_DELETED'));
    expect(res.url).toMatch(/:\d+\/bank\/webhooks\/powens\/USER_DELETED$/);
    expect(res.status).toBe(202);
    expect(await proxied.built.tokens.get(userId)).toBeNull();
  });
});
