import { createHmac, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { digest } from '../../src/crypto.js';
import { completeWebview, decodeEntities, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { errorText, type ErrorCode } from '../../src/errors.js';
import { t } from '../../src/i18n/index.js';
import type { PendingFlow } from '../../src/storage/flows.js';
import { createKeys, type Keys } from '../../src/storage/keys.js';
import type { Browser } from '../helpers/browser.js';
import { rawRequest, type RawRequest, type RawResponse } from '../helpers/raw-http.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { listRoutes } from '../helpers/routes.js';
import { startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * The attack suite: one row per attack, over every route. Each row is sent byte for byte and
 * must get its status, never a 5xx, change nothing in Redis (beyond what the row names, and
 * rate-limit counters) or at Powens, and leave no secret in the response or the logs, whose
 * lines all stay one JSON object each.
 */

const APP_ORIGIN = 'https://app.example.com';
/** Stands for this service's own origin when resolving a path. */
const SERVICE = 'https://bank.example.com';
const EVIL = 'https://evil.example';
const HMAC_SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const METRICS_TOKEN = `metrics-${randomBytes(16).toString('hex')}`;
const JWT_SECRET = `jwt-secret-${randomBytes(24).toString('hex')}`;
const BRUTE_LIMIT = 5;
/** What Powens may send as a bank's name or a message, and must never become markup here. */
const MARKUP = `<img src=x onerror="alert('name')"><script>alert(1)</script>`;
const MARKUP_MESSAGE = `<a href="javascript:alert(2)">reconnect here</a>`;

type StackName = 'header' | 'demo' | 'jwt' | 'limited';

type Allowance =
  /** A new session record (a flow start, a sign-in). */
  | { kind: 'new-session' }
  /** Exactly one new pending flow (and its session) whose return path is `returnTo`. */
  | { kind: 'new-flow'; returnTo: string }
  /** The flow of `state` in session `sessionId` is taken out (single use, success or not). */
  | { kind: 'flow-consumed'; sessionId: string; state: string }
  /** The user's connections cache: filled by a read, dropped by an attempted change. */
  | { kind: 'cache'; userId: string }
  /** An authenticated webhook's delivery id, remembered for deduplication. */
  | { kind: 'webhook-seen'; id: string };

interface Prepared {
  req: RawRequest;
  allow?: Allowance[];
  /** Values of this row that must appear neither in the response nor in the logs. */
  secrets?: string[];
  /**
   * Powens users the request must delete: a refused callback still exchanges the real code it
   * carries, and deletes the new Powens user of that webview (no orphan is left at Powens).
   */
  deletes?: number[];
}

interface AttackCase {
  name: string;
  /** The route template attacked (`METHOD /path`), or `-` for a path no route serves. */
  route: string;
  on?: StackName;
  prepare: (w: World) => RawRequest | Prepared | Promise<RawRequest | Prepared>;
  status: number;
  check?: (res: RawResponse, w: World) => void | Promise<void>;
}

interface Linked {
  userId: string;
  token: string;
  powensUserId: number;
  connectionIds: number[];
}

interface World {
  stacks: Record<StackName, Stack>;
  victim: Linked;
  attacker: Linked;
  demoVictim: Linked;
  /** The attacker's own session (header mode), with a pending flow. */
  attackerCookie: string;
  /** The demo victim, signed in. */
  demoCookie: string;
  secrets: string[];
}

// ---------------------------------------------------------------------------------------------
// Request builders

type Header = [string, string];
const CSRF: Header = ['X-CSRF', '1'];
const JSON_TYPE: Header = ['Content-Type', 'application/json'];
const HTML: Header = ['Accept', 'text/html'];
const as = (userId: string): Header => ['X-User-Id', userId];
const cookie = (value: string): Header => ['Cookie', value];
const get = (path: string, ...headers: Header[]): RawRequest => ({ method: 'GET', path, headers });
const del = (path: string, ...headers: Header[]): RawRequest => ({ method: 'DELETE', path, headers });
const send = (method: string, path: string, body: string | Buffer, ...headers: Header[]): RawRequest => ({ method, path, headers, body });
const q = encodeURIComponent;
let unique = 0;
const fresh = (name: string): string => `${name}-${++unique}`;

function bearerJwt(sub: string, opts: { secret?: string; expiresIn?: string } = {}): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(opts.secret ?? JWT_SECRET));
}

function sessionIdOf(cookieHeader: string): string {
  const m = /sid=s%3A([^.;]+)\./.exec(cookieHeader);
  if (m?.[1] === undefined) throw new Error(`no signed session id in ${cookieHeader}`);
  return decodeURIComponent(m[1]);
}

/** A browser of `userId` (header mode) that started a connect flow: its cookie and the flow's state. */
async function startedFlow(s: Stack, userId: string, path = '/connect'): Promise<{ b: Browser; cookie: string; state: string; webview: string }> {
  const b = s.browser(userId);
  const hop = await b.get(path);
  if (hop.status !== 302 || hop.location === undefined) throw new Error(`${path} answered ${hop.status}`);
  const state = new URL(hop.location).searchParams.get('state') ?? '';
  return { b, cookie: b.cookieHeader(), state, webview: hop.location };
}

/**
 * As above, then the webview played to the end: the callback URL (with a real code) it returns
 * to, and the new Powens user that webview created.
 */
async function finishedWebview(
  s: Stack,
  userId: string,
): Promise<{ b: Browser; cookie: string; state: string; callback: string; code: string; powensUserId: number }> {
  const started = await startedFlow(s, userId);
  const back = await completeWebview(started.webview, { kind: 'connect' });
  const powensUserId = emulator.emulator.state.connection(Number(back.searchParams.get('connection_id')))?.id_user ?? -1;
  return { ...started, callback: `${back.pathname}${back.search}`, code: back.searchParams.get('code') ?? '', powensUserId };
}

// ---------------------------------------------------------------------------------------------
// Assertions used by rows

function problem(res: RawResponse, code: ErrorCode): void {
  expect(res.header('content-type')).toMatch(/^application\/problem\+json/);
  expect((JSON.parse(res.body) as { code?: string }).code).toBe(code);
}

function errorPage(res: RawResponse, code: ErrorCode): void {
  expect(res.header('content-type')).toMatch(/^text\/html/);
  expect(res.body).toContain(`<h1>${errorText(code, 'en').title}</h1>`);
  // Every error page leads back to the app: this service or the app's origin, never elsewhere.
  const back = /data-action="back" href="([^"]*)"/.exec(res.body)?.[1];
  expect(back).toBeDefined();
  expect([SERVICE, APP_ORIGIN]).toContain(new URL(decodeEntities(back ?? ''), SERVICE).origin);
}

/** Nothing of an injected payload comes back (every payload of this suite calls alert). */
function noMarkupFrom(res: RawResponse, ...needles: string[]): void {
  for (const n of ['alert(', 'onerror', 'onload', 'javascript:', ...needles]) expect(res.body.toLowerCase()).not.toContain(n.toLowerCase());
}

function noInjectedHeaders(res: RawResponse): void {
  expect(res.headers.has('x-evil')).toBe(false);
  // Names and attributes only: a cookie's value is random (a session id can spell "evil" by chance).
  for (const c of res.headers.get('set-cookie') ?? []) expect(c.replace(/^([^=;]*)=[^;]*/, '$1')).not.toMatch(/evil/i);
  expect(res.header('location') ?? '').not.toMatch(/[\r\n]/);
}

function noCors(res: RawResponse): void {
  expect(res.headers.has('access-control-allow-origin')).toBe(false);
}

function toWebview(w: World): (res: RawResponse) => void {
  return (res) => {
    expect(res.header('location')?.startsWith(`${w.stacks.header.emulator.url}/`)).toBe(true);
    noInjectedHeaders(res);
  };
}

function linkedAnswer(res: RawResponse, linked: boolean): void {
  expect(res.header('content-type')).toMatch(/^application\/json/);
  expect((JSON.parse(res.body) as { linked: boolean }).linked).toBe(linked);
}

// ---------------------------------------------------------------------------------------------
// The rows

const PATH_TRICKS: [string, string][] = [
  ['encoded ../ to reach another Powens path', '..%2F..%2Fusers%2Fme'],
  ['encoded dot-dot', '%2e%2e'],
  ['upper-case encoded dot-dot and slash', '%2E%2E%2F'],
  ['SQL-ish suffix', '1;DROP'],
  ['hexadecimal', '0x1'],
  ['exponent', '1e3'],
  ['full-width digit', '%EF%BC%91'],
  ['Arabic-Indic digit', '%D9%A3'],
  ['negative', '-1'],
  ['zero', '0'],
  ['beyond 2^53', '99999999999999999999'],
  ['decimal', '1.0'],
  ['plus sign', '%2B1'],
  ['NUL byte', '1%00'],
];

function cases(): AttackCase[] {
  const rows: AttackCase[] = [];
  const add = (row: AttackCase): void => {
    rows.push(row);
  };

  // --- Cross-origin state-changing requests -----------------------------------------------------
  add({
    name: 'unlink from a foreign Origin, even with X-CSRF',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections', as(w.victim.userId), CSRF, ['Origin', EVIL]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'unlink without X-CSRF (what a cross-site form or no-cors fetch sends)',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections', as(w.victim.userId)),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'delete a connection from Origin null (sandboxed frame)',
    route: 'DELETE /me/connections/:id',
    prepare: (w) => del(`/me/connections/${w.victim.connectionIds[1]}`, as(w.victim.userId), CSRF, ['Origin', 'null']),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'unlink from a look-alike origin that starts with an allowed one',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections', as(w.victim.userId), CSRF, ['Origin', `${APP_ORIGIN}.evil.example`]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'unlink with X-CSRF: 0',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections', as(w.victim.userId), ['X-CSRF', '0']),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'unlink with X-CSRF sent twice',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections', as(w.victim.userId), CSRF, CSRF),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'a cross-site urlencoded form posted at the API',
    route: '-',
    prepare: (w) => send('POST', '/me/connections', 'id=1', as(w.victim.userId), ['Content-Type', 'application/x-www-form-urlencoded'], ['Origin', EVIL]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'a cross-site text/plain form carrying JSON, without Origin',
    route: '-',
    prepare: (w) => send('POST', '/me/connections', '{"x":"=1"}', as(w.victim.userId), ['Content-Type', 'text/plain']),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'PUT on the API',
    route: '-',
    prepare: (w) => send('PUT', '/me/connections', '{}', as(w.victim.userId), JSON_TYPE),
    status: 403,
  });
  add({
    name: 'TRACE on the API',
    route: '-',
    prepare: (w) => ({ method: 'TRACE', path: '/me/connections', headers: [as(w.victim.userId)] }),
    status: 403,
  });
  add({
    name: 'demo: cross-site sign-out without X-CSRF',
    route: 'DELETE /demo/session',
    on: 'demo',
    prepare: (w) => del('/demo/session', cookie(w.demoCookie)),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'demo: login CSRF with a cross-site urlencoded form',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', 'userId=attacker', ['Content-Type', 'application/x-www-form-urlencoded'], ['Origin', EVIL]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'demo: login CSRF with a multipart form and no Origin',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () =>
      send('POST', '/demo/session', '--b\r\nContent-Disposition: form-data; name="userId"\r\n\r\nattacker\r\n--b--\r\n', [
        'Content-Type',
        'multipart/form-data; boundary=b',
      ]),
    status: 403,
    check: (res) => problem(res, 'CSRF_HEADER_MISSING'),
  });
  add({
    name: 'demo: JSON sign-in with X-CSRF from a foreign Origin',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', '{"userId":"attacker"}', JSON_TYPE, CSRF, ['Origin', EVIL]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });
  add({
    name: 'demo: delete the signed-in user’s connection from a foreign Origin',
    route: 'DELETE /me/connections/:id',
    on: 'demo',
    prepare: (w) => del(`/me/connections/${w.demoVictim.connectionIds[0]}`, cookie(w.demoCookie), CSRF, ['Origin', EVIL]),
    status: 403,
    check: (res) => problem(res, 'ORIGIN_FORBIDDEN'),
  });

  // --- Webhooks: exempt from the CSRF guard, so they must authenticate ---------------------------
  const deletedEvent = (w: World): string => JSON.stringify({ id_webhook_data: fresh('wh'), user: { id: w.victim.powensUserId } });
  add({
    name: 'webhook with neither signature nor bearer token',
    route: 'POST /webhooks/powens',
    prepare: (w) => send('POST', '/webhooks/powens?event=USER_DELETED', deletedEvent(w), JSON_TYPE),
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook with a forged BI-Signature',
    route: 'POST /webhooks/powens',
    prepare: (w) =>
      send(
        'POST',
        '/webhooks/powens?event=USER_DELETED',
        deletedEvent(w),
        JSON_TYPE,
        ['BI-Signature', randomBytes(32).toString('base64')],
        ['BI-Signature-Date', new Date().toUTCString()],
      ),
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook with the attacker’s own token, naming the victim’s Powens user',
    route: 'POST /webhooks/powens',
    prepare: (w) => send('POST', '/webhooks/powens?event=USER_DELETED', deletedEvent(w), JSON_TYPE, ['Authorization', `Bearer ${w.attacker.token}`]),
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook with a guessed bearer token',
    route: 'POST /webhooks/powens',
    prepare: (w) =>
      send('POST', '/webhooks/powens?event=USER_DELETED', deletedEvent(w), JSON_TYPE, ['Authorization', `Bearer ${randomBytes(24).toString('base64url')}`]),
    status: 401,
  });
  const userDeleted = (w: World): string =>
    JSON.stringify({ id_webhook_data: Date.now() * 1000 + ++unique, id: w.victim.powensUserId, signin: '2024-01-02 03:04:05' });
  const signedFor = (path: string, body: string): Header[] => {
    const date = new Date().toISOString();
    return [
      ['BI-Signature', createHmac('sha256', HMAC_SECRET).update(`POST.${path}.${date}.${body}`).digest('base64')],
      ['BI-Signature-Date', date],
    ];
  };
  add({
    name: 'webhook at its per-event URL with a forged BI-Signature',
    route: 'POST /webhooks/powens/:event',
    prepare: (w) =>
      send(
        'POST',
        '/webhooks/powens/USER_DELETED',
        userDeleted(w),
        JSON_TYPE,
        ['BI-Signature', randomBytes(32).toString('base64')],
        ['BI-Signature-Date', new Date().toISOString()],
      ),
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook signed for another event’s URL, sent to USER_DELETED’s',
    route: 'POST /webhooks/powens/:event',
    prepare: (w) => {
      const body = userDeleted(w);
      return send('POST', '/webhooks/powens/user-deleted', body, JSON_TYPE, ...signedFor('/webhooks/powens/USER_CREATED', body));
    },
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook with the victim’s own token while an HMAC secret is set',
    route: 'POST /webhooks/powens/:event',
    prepare: (w) => send('POST', '/webhooks/powens/USER_DELETED', userDeleted(w), JSON_TYPE, ['Authorization', `Bearer ${w.victim.token}`]),
    status: 401,
    check: (res) => problem(res, 'WEBHOOK_UNAUTHORIZED'),
  });
  add({
    name: 'webhook on the query form: a connection’s body (whose id is the victim’s Powens user id) posted as USER_DELETED',
    route: 'POST /webhooks/powens',
    prepare: (w) => {
      const id = Date.now() * 1000 + ++unique;
      const body = JSON.stringify({ id_webhook_data: id, id: w.victim.powensUserId, id_user: w.attacker.powensUserId });
      return {
        req: send('POST', '/webhooks/powens?event=USER_DELETED', body, JSON_TYPE, ...signedFor('/webhooks/powens', body)),
        allow: [{ kind: 'webhook-seen', id: String(id) }],
      };
    },
    // Authenticated, so acknowledged (Powens retries anything else), but acted on by no one.
    status: 200,
    check: (res) => expect(JSON.parse(res.body)).toEqual({ status: 'ignored' }),
  });
  add({
    name: 'webhook with an HTML body and no authentication',
    route: 'POST /webhooks/powens',
    prepare: () => send('POST', '/webhooks/powens?event=USER_DELETED', '<html><script>alert(1)</script></html>', ['Content-Type', 'text/html']),
    // No credential: refused before the body is even read (docs/REFERENCE.md, "Webhooks": else 401).
    status: 401,
    check: (res) => noMarkupFrom(res),
  });

  // --- CORS probing ------------------------------------------------------------------------------
  const preflight = (origin: string, headers = 'x-csrf'): RawRequest => ({
    method: 'OPTIONS',
    path: '/me/connections',
    headers: [
      ['Origin', origin],
      ['Access-Control-Request-Method', 'DELETE'],
      ['Access-Control-Request-Headers', headers],
    ],
  });
  add({ name: 'CORS preflight from a foreign origin', route: 'DELETE /me/connections', prepare: () => preflight(EVIL), status: 204, check: noCors });
  add({
    name: 'CORS preflight from a look-alike origin',
    route: 'DELETE /me/connections',
    prepare: () => preflight(`${APP_ORIGIN}.evil.example`),
    status: 204,
    check: noCors,
  });
  add({ name: 'CORS preflight from Origin null', route: 'DELETE /me/connections', prepare: () => preflight('null'), status: 204, check: noCors });
  add({
    name: 'CORS preflight from the allowed origin never allows the user-id header',
    route: 'DELETE /me/connections',
    prepare: () => preflight(APP_ORIGIN, 'x-csrf,x-user-id'),
    status: 204,
    check: (res) => {
      expect(res.header('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(res.header('access-control-allow-headers')?.toLowerCase()).not.toContain('x-user-id');
    },
  });
  add({
    name: 'credentialed read of the victim’s connections from a foreign origin gets no CORS grant',
    route: 'GET /me/connections',
    prepare: (w) => ({ req: get('/me/connections', as(w.victim.userId), ['Origin', EVIL]), allow: [{ kind: 'cache', userId: w.victim.userId }] }),
    status: 200,
    check: (res) => {
      noCors(res);
      expect(res.header('vary')).toMatch(/Origin/);
    },
  });
  add({
    name: 'the allowed origin gets a grant for itself alone (control)',
    route: 'GET /me/connections',
    prepare: (w) => ({ req: get('/me/connections', as(w.victim.userId), ['Origin', APP_ORIGIN]), allow: [{ kind: 'cache', userId: w.victim.userId }] }),
    status: 200,
    check: (res) => {
      expect(res.header('access-control-allow-origin')).toBe(APP_ORIGIN);
      expect(res.header('access-control-allow-credentials')).toBe('true');
    },
  });

  // --- Open redirects through return_to ---------------------------------------------------------
  // RETURN_TO_ORIGINS defaults to CORS_ORIGINS (APP_ORIGIN here): an absolute URL there is kept,
  // anything else lands on the default, the app's first origin.
  const LANDING = `${APP_ORIGIN}/`;
  const redirectProbes: [string, string, string][] = [
    ['protocol-relative URL', '//evil.example', LANDING],
    ['backslash after the slash', '/\\evil.example', LANDING],
    ['absolute URL', 'https://evil.example/', LANDING],
    ['javascript: URL', 'javascript:alert(1)', LANDING],
    ['dot segment that collapses into //', '/.//evil.example', LANDING],
    ['parent segment that collapses into //', '/a/..//evil.example', LANDING],
    ['three slashes', '///evil.example', LANDING],
    ['tab between the slashes', '/\t/evil.example', LANDING],
    ['scheme without slashes', 'http:evil.example', LANDING],
    ['double-encoded slashes (stay a local path)', '/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['CR LF and a Set-Cookie header', '/x\r\nSet-Cookie: evil=1', LANDING],
    ['LF and a Location header', '/x\nLocation: https://evil.example', LANDING],
    ['a plain local path with a query (control)', '/settings/banks?tab=1', '/settings/banks?tab=1'],
    // Absolute URLs: only the app's exact origin, as a browser will read it.
    ['the app’s own page (control)', `${APP_ORIGIN}/banks?tab=1#list`, `${APP_ORIGIN}/banks?tab=1#list`],
    ['the app in capitals with its default port (normalised)', 'HTTPS://APP.EXAMPLE.COM:443/banks', `${APP_ORIGIN}/banks`],
    ['user info naming the app before another host', 'https://app.example.com@evil.example/', LANDING],
    ['user info with a port-like password', 'https://app.example.com:443@evil.example/', LANDING],
    ['a user name on the app', 'https://victim@app.example.com/', LANDING],
    ['the app as a sub-domain of another host', 'https://app.example.com.evil.example/', LANDING],
    ['a look-alike host', 'https://app-example.com/', LANDING],
    ['a look-alike prefix', 'https://evilapp.example.com/', LANDING],
    ['a trailing dot', 'https://app.example.com./', LANDING],
    ['another port', 'https://app.example.com:8443/', LANDING],
    ['plain http to the https app', 'http://app.example.com/', LANDING],
    ['a Cyrillic look-alike (IDN)', 'https://\u0430pp.example.com/', LANDING],
    ['a look-alike in punycode', 'https://xn--pp-8kc.example.com/', LANDING],
    ['a full-width dot', 'https://app\uff0eexample.com/', LANDING],
    ['a soft hyphen a parser would drop', 'https://ap\u00adp.example.com/', LANDING],
    ['an encoded slash before user info', 'https://app.example.com%2F@evil.example/', LANDING],
    ['an encoded @ in the host', 'https://app.example.com%40evil.example/', LANDING],
    ['a percent-encoded whole URL', 'https%3A%2F%2Fevil.example%2F', LANDING],
    ['backslashes for the slashes', 'https:\\\\evil.example/', LANDING],
    ['a backslash before user info', 'https://app.example.com\\@evil.example/', LANDING],
    ['a leading space', ' https://evil.example/', LANDING],
    ['a tab inside the app’s host', 'https://app.example\t.com/', LANDING],
    ['a NUL byte after the app', 'https://app.example.com\u0000.evil.example/', LANDING],
    ['CR LF after the app', 'https://app.example.com/\r\nLocation: https://evil.example', LANDING],
    ['a protocol-relative URL to the app', '//app.example.com/', LANDING],
    ['the app’s scheme without slashes', 'https:app.example.com/', LANDING],
    ['the app’s scheme with three slashes', 'https:///evil.example/', LANDING],
    ['the scheme in mixed case to another host', 'hTtPs://evil.example/', LANDING],
    ['a javascript: URL naming the app', 'javascript://app.example.com/%0Aalert(1)', LANDING],
  ];
  for (const [what, value, kept] of redirectProbes) {
    add({
      name: `open redirect in return_to: ${what}`,
      route: 'GET /connect',
      prepare: () => ({ req: get(`/connect?return_to=${q(value)}`, as(fresh('wanderer'))), allow: [{ kind: 'new-flow', returnTo: kept }] }),
      status: 302,
      check: (res, w) => toWebview(w)(res),
    });
  }
  add({
    name: 'demo: open redirect in the sign-in page’s return_to',
    route: 'GET /demo/sign-in',
    on: 'demo',
    prepare: () => get(`/demo/sign-in?return_to=${q('//evil.example')}`),
    status: 200,
    check: (res) => expect(res.body).toContain(`data-return-to="${LANDING}"`),
  });
  add({
    name: 'demo: user info naming the app in the sign-in page’s return_to',
    route: 'GET /demo/sign-in',
    on: 'demo',
    prepare: () => get(`/demo/sign-in?return_to=${q('https://app.example.com@evil.example/')}`),
    status: 200,
    check: (res) => {
      expect(res.body).toContain(`data-return-to="${LANDING}"`);
      expect(res.body).not.toContain('evil.example');
    },
  });
  add({
    name: 'demo: the app’s own page in the sign-in page’s return_to (control)',
    route: 'GET /demo/sign-in',
    on: 'demo',
    prepare: () => get(`/demo/sign-in?return_to=${q(`${APP_ORIGIN}/banks`)}`),
    status: 200,
    check: (res) => expect(res.body).toContain(`data-return-to="${APP_ORIGIN}/banks"`),
  });
  add({
    name: 'demo: CR LF and markup in the sign-in page’s return_to',
    route: 'GET /demo/sign-in',
    on: 'demo',
    prepare: () => get(`/demo/sign-in?return_to=${q('/"><script>alert(1)</script>\r\nSet-Cookie: evil=1')}`),
    status: 200,
    check: (res) => {
      expect(res.body).toContain(`data-return-to="${LANDING}"`);
      noMarkupFrom(res);
      noInjectedHeaders(res);
    },
  });

  // --- CR/LF in state and the other callback values ------------------------------------------------
  add({
    name: 'CR LF and a Set-Cookie in state',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=${q('abc\r\nSet-Cookie: evil=1')}&code=x`, as(w.attacker.userId), cookie(w.attackerCookie), HTML),
    status: 400,
    check: (res) => {
      errorPage(res, 'STATE_INVALID');
      noInjectedHeaders(res);
    },
  });
  add({
    name: 'a state that is only CR LF',
    route: 'GET /callback',
    prepare: (w) => get('/callback?state=%0D%0A', as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'CR LF and a header in code',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=forged&code=${q('x\r\nX-Evil: 1')}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: noInjectedHeaders,
  });
  add({
    name: 'CR LF in error',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=forged&error=${q('access_denied\r\nX-Evil: 1')}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: noInjectedHeaders,
  });

  // --- Markup from the query and from Powens -------------------------------------------------------
  add({
    name: 'markup and a forged log line in error_description of a real flow',
    route: 'GET /callback',
    prepare: async (w) => {
      const user = fresh('canceller');
      const f = await startedFlow(w.stacks.header, user);
      const description = `<script>alert(1)</script>\n{"level":"fatal","msg":"forged"}`;
      return {
        req: get(`/callback?state=${q(f.state)}&error=access_denied&error_description=${q(description)}`, as(user), cookie(f.cookie)),
        allow: [{ kind: 'flow-consumed', sessionId: sessionIdOf(f.cookie), state: f.state }],
      };
    },
    status: 400,
    check: (res, w) => {
      errorPage(res, 'FLOW_CANCELLED');
      noMarkupFrom(res, 'forged');
      // Logged as data, inside one JSON line: this request's line (found by the page's reference
      // id; another attack may have logged 'forged' before this one runs).
      const reference = res.header('x-request-id');
      expect(reference).toBeDefined();
      const line = w.stacks.header.logs.find((l) => l.includes('forged') && (JSON.parse(l) as { reqId?: unknown }).reqId === reference);
      expect(line).toBeDefined();
      expect(JSON.parse(line ?? '')).toMatchObject({ detail: { description: expect.stringContaining('<script>') as unknown } });
    },
  });
  add({
    name: 'markup as the error code of a real flow',
    route: 'GET /callback',
    prepare: async (w) => {
      const user = fresh('canceller');
      const f = await startedFlow(w.stacks.header, user);
      return {
        req: get(`/callback?state=${q(f.state)}&error=${q('<img src=x onerror=alert(1)>')}`, as(user), cookie(f.cookie)),
        allow: [{ kind: 'flow-consumed', sessionId: sessionIdOf(f.cookie), state: f.state }],
      };
    },
    status: 400,
    check: (res) => {
      errorPage(res, 'FLOW_FAILED');
      noMarkupFrom(res, '<img');
    },
  });
  add({
    name: 'markup in error_description with a forged state',
    route: 'GET /callback',
    prepare: (w) =>
      get(`/callback?state=forged&error=access_denied&error_description=${q('<svg onload=alert(1)>')}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => noMarkupFrom(res, '<svg'),
  });
  add({
    name: 'markup as the state',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=${q('"><script>alert(1)</script>')}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => noMarkupFrom(res),
  });
  add({
    name: 'a bank name with markup from Powens comes back as JSON data only, and a message with markup is replaced by a sentence',
    route: 'GET /me/connections',
    prepare: (w) => ({ req: get('/me/connections', as(w.victim.userId)), allow: [{ kind: 'cache', userId: w.victim.userId }] }),
    status: 200,
    check: (res) => {
      expect(res.header('content-type')).toMatch(/^application\/json/);
      expect(res.header('x-content-type-options')).toBe('nosniff');
      const body = JSON.parse(res.body) as { connections: { connector: { name: string }; message: string | null }[] };
      expect(body.connections.map((c) => c.connector.name)).toContain(MARKUP);
      expect(res.body).not.toContain('javascript:');
      expect(body.connections.map((c) => c.message)).toContain(t('en', 'connection.state.wrongpass'));
    },
  });
  add({
    name: 'demo: the home page never renders Powens names as HTML (the script uses textContent)',
    route: 'GET /',
    on: 'demo',
    prepare: (w) => get('/', cookie(w.demoCookie)),
    status: 200,
    check: (res) => {
      expect(res.header('content-type')).toMatch(/^text\/html/);
      expect(res.body).not.toContain('alert(');
      expect(res.body).toContain('<script type="module" src="/assets/demo.js"></script>');
    },
  });
  add({
    name: 'demo: the API the page reads carries the markup name as data',
    route: 'GET /me/connections',
    on: 'demo',
    prepare: (w) => ({ req: get('/me/connections', cookie(w.demoCookie)), allow: [{ kind: 'cache', userId: w.demoVictim.userId }] }),
    status: 200,
    check: (res) => expect((JSON.parse(res.body) as { connections: { connector: { name: string } }[] }).connections[0]?.connector.name).toBe(MARKUP),
  });
  add({
    name: 'markup in Accept-Language never reaches the page’s lang or text',
    route: '-',
    prepare: () => get('/nowhere', HTML, ['Accept-Language', 'fr"><script>alert(1)</script>;q=1, en;q=0.1']),
    status: 404,
    check: (res) => {
      errorPage(res, 'NOT_FOUND');
      expect(res.body).toContain('<html lang="en">');
      expect(res.header('content-language')).toBe('en');
      noMarkupFrom(res);
    },
  });
  add({
    name: 'a French reader of the API gets the messages in French, the markup still data only',
    route: 'GET /me/connections',
    prepare: (w) => ({
      req: get('/me/connections', as(w.victim.userId), ['Accept-Language', 'fr-FR,fr;q=0.9']),
      allow: [{ kind: 'cache', userId: w.victim.userId }],
    }),
    status: 200,
    check: (res) => {
      expect(res.header('content-language')).toBe('fr');
      const body = JSON.parse(res.body) as { connections: { message: string | null }[] };
      expect(body.connections.map((c) => c.message)).toContain(t('fr', 'connection.state.wrongpass'));
      expect(res.body).not.toContain('javascript:');
    },
  });
  add({
    name: 'markup in an unknown path',
    route: '-',
    prepare: () => get('/<script>alert(1)</script>', HTML),
    status: 404,
    check: (res) => {
      errorPage(res, 'NOT_FOUND');
      noMarkupFrom(res);
    },
  });
  add({
    name: 'markup as the connection id of a reconnect',
    route: 'GET /reconnect/:connectionId',
    prepare: (w) => get(`/reconnect/${q('<svg onload=alert(1)>')}`, as(w.victim.userId)),
    status: 404,
    check: (res) => {
      errorPage(res, 'CONNECTION_NOT_FOUND');
      noMarkupFrom(res, '<svg');
    },
  });
  add({
    name: 'markup in the query of the landing page',
    route: 'GET /',
    prepare: () => get(`/?connection_id=${q('<script>alert(1)</script>')}`),
    status: 200,
    check: (res) => noMarkupFrom(res),
  });

  // --- Oversized headers, bodies and parameters ----------------------------------------------------
  add({
    name: 'a 20 KB header',
    route: 'GET /me/connections',
    prepare: (w) => get('/me/connections', as(w.victim.userId), ['X-Pad', 'a'.repeat(20_000)]),
    status: 431,
  });
  add({ name: 'a 20 KB cookie', route: 'GET /callback', prepare: () => get('/callback?state=x', cookie(`powens-bff.sid=${'a'.repeat(20_000)}`)), status: 431 });
  add({ name: 'a 20 KB URL', route: 'GET /connect', prepare: () => get(`/connect?return_to=/${'a'.repeat(20_000)}`, as(fresh('wanderer'))), status: 431 });
  add({
    name: 'a 20 KB JSON body on unlink',
    route: 'DELETE /me/connections',
    prepare: (w) => send('DELETE', '/me/connections', JSON.stringify({ pad: 'x'.repeat(20_000) }), as(w.victim.userId), CSRF, JSON_TYPE),
    status: 413,
    check: (res) => problem(res, 'PAYLOAD_TOO_LARGE'),
  });
  add({
    name: 'demo: a 20 KB sign-in body',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', JSON.stringify({ userId: 'a', pad: 'x'.repeat(20_000) }), CSRF, JSON_TYPE),
    status: 413,
  });
  add({
    name: 'a webhook body over WEBHOOK_BODY_LIMIT_BYTES',
    route: 'POST /webhooks/powens',
    prepare: (w) =>
      send(
        'POST',
        '/webhooks/powens?event=USER_DELETED',
        JSON.stringify({ user: { id: w.victim.powensUserId }, pad: 'x'.repeat(4000) }),
        JSON_TYPE,
        ['BI-Signature', randomBytes(32).toString('base64')],
        ['BI-Signature-Date', new Date().toISOString()],
      ),
    status: 413,
  });
  add({
    name: 'a 600-character state',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=${'s'.repeat(600)}`, cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'BAD_REQUEST'),
  });
  add({
    name: 'a 5000-character code',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=forged&code=${'c'.repeat(5000)}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'BAD_REQUEST'),
  });
  add({
    name: 'a 3000-character return_to',
    route: 'GET /connect',
    prepare: () => get(`/connect?return_to=/${'r'.repeat(3000)}`, as(fresh('wanderer'))),
    status: 400,
    check: (res) => errorPage(res, 'BAD_REQUEST'),
  });
  add({
    name: 'a 9000-character error_description',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=forged&error=x&error_description=${'d'.repeat(9000)}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'BAD_REQUEST'),
  });
  add({
    name: '1500 query parameters before the state',
    route: 'GET /callback',
    prepare: (w) =>
      get(`/callback?${Array.from({ length: 1500 }, (_, i) => `p${i}=${i}`).join('&')}&state=forged`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
  });
  add({
    name: 'a 600-character Accept-Language',
    route: 'GET /connect',
    prepare: () => ({
      req: get('/connect', as(fresh('wanderer')), ['Accept-Language', `fr;q=0.5,${'x-y,'.repeat(150)}`]),
      allow: [{ kind: 'new-flow', returnTo: `${APP_ORIGIN}/` }],
    }),
    status: 302,
    check: (res) => expect(res.header('location')).toMatch(/\/en\/connect\?/),
  });

  // --- Wrong content types and malformed bodies -------------------------------------------------------
  add({
    name: 'unlink with malformed JSON changes nothing',
    route: 'DELETE /me/connections',
    prepare: (w) => send('DELETE', '/me/connections', '{"confirm":', as(w.victim.userId), CSRF, JSON_TYPE),
    status: 400,
    check: (res) => problem(res, 'BAD_REQUEST'),
  });
  add({
    name: 'delete a connection with a JSON null body',
    route: 'DELETE /me/connections/:id',
    prepare: (w) => send('DELETE', `/me/connections/${w.victim.connectionIds[1]}`, 'null', as(w.victim.userId), CSRF, JSON_TYPE),
    status: 400,
  });
  add({
    name: 'unlink with a JSON body in a charset other than UTF',
    route: 'DELETE /me/connections',
    prepare: (w) =>
      send('DELETE', '/me/connections', Buffer.from('{"a":"\u00e9"}', 'latin1'), as(w.victim.userId), CSRF, [
        'Content-Type',
        'application/json; charset=iso-8859-1',
      ]),
    status: 400,
  });
  add({
    name: 'unlink with a body that claims gzip and is not',
    route: 'DELETE /me/connections',
    prepare: (w) => send('DELETE', '/me/connections', 'not gzip', as(w.victim.userId), CSRF, JSON_TYPE, ['Content-Encoding', 'gzip']),
    status: 400,
  });
  add({
    name: 'demo: sign-in as text/plain with X-CSRF',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', '{"userId":"attacker"}', CSRF, ['Content-Type', 'text/plain']),
    status: 400,
  });
  add({
    name: 'demo: sign-in with a __proto__ payload',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', '{"__proto__":{"userId":"admin"}}', CSRF, JSON_TYPE),
    status: 400,
    check: (res) => problem(res, 'USER_ID_INVALID'),
  });
  add({
    name: 'demo: sign-in with an array as the user id',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', '{"userId":["admin"]}', CSRF, JSON_TYPE),
    status: 400,
  });
  add({
    name: 'demo: sign-in with an object as the user id',
    route: 'POST /demo/session',
    on: 'demo',
    prepare: () => send('POST', '/demo/session', '{"userId":{"toString":"admin"}}', CSRF, JSON_TYPE),
    status: 400,
  });

  // --- Path tricks in :id ------------------------------------------------------------------------------
  for (const [what, id] of PATH_TRICKS) {
    add({
      name: `delete a connection by a tricked id: ${what}`,
      route: 'DELETE /me/connections/:id',
      prepare: (w) => del(`/me/connections/${id}`, as(w.victim.userId), CSRF),
      status: 404,
    });
  }
  add({
    name: 'delete a connection with /.. after a real id',
    route: 'DELETE /me/connections/:id',
    prepare: (w) => del(`/me/connections/${w.victim.connectionIds[1]}/..`, as(w.victim.userId), CSRF),
    status: 404,
  });
  add({
    name: 'delete with a raw ../ back to the unlink route',
    route: 'DELETE /me/connections',
    prepare: (w) => del('/me/connections/../connections', as(w.victim.userId), CSRF),
    status: 404,
  });
  add({
    name: 'delete a real id with an encoded slash and dot-dot after it',
    route: 'DELETE /me/connections/:id',
    prepare: (w) => del(`/me/connections/${w.victim.connectionIds[1]}%2F..`, as(w.victim.userId), CSRF),
    status: 404,
  });
  for (const [what, id] of PATH_TRICKS.filter(([, id]) => ['..%2F..%2Fusers%2Fme', '0x1', '%EF%BC%91', '-1', '99999999999999999999'].includes(id))) {
    add({
      name: `reconnect by a tricked id: ${what}`,
      route: 'GET /reconnect/:connectionId',
      prepare: (w) => get(`/reconnect/${id}`, as(w.victim.userId), HTML),
      status: 404,
      check: (res) => errorPage(res, 'CONNECTION_NOT_FOUND'),
    });
  }
  add({
    name: 'another user’s connection id: delete (IDOR)',
    route: 'DELETE /me/connections/:id',
    prepare: (w) => ({
      req: del(`/me/connections/${w.victim.connectionIds[0]}`, as(w.attacker.userId), CSRF),
      allow: [{ kind: 'cache', userId: w.attacker.userId }],
    }),
    status: 404,
    check: (res) => problem(res, 'CONNECTION_NOT_FOUND'),
  });
  add({
    name: 'another user’s connection id: reconnect (IDOR)',
    route: 'GET /reconnect/:connectionId',
    prepare: (w) => get(`/reconnect/${w.victim.connectionIds[0]}`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 404,
  });
  add({
    name: 'reconnect by a user with no bank leaves no session behind',
    route: 'GET /reconnect/:connectionId',
    prepare: (w) => get(`/reconnect/${w.victim.connectionIds[0]}`, as(fresh('nobody'))),
    status: 409,
    check: (res) => errorPage(res, 'NOT_LINKED'),
  });
  add({
    name: 'manage by a user with no bank leaves no session behind',
    route: 'GET /manage',
    prepare: () => get('/manage', as(fresh('nobody'))),
    status: 409,
    check: (res) => errorPage(res, 'NOT_LINKED'),
  });

  // HEAD runs GET handlers in Express: on flow routes it would mint codes and burn flows unseen.
  for (const [route, path] of [
    ['HEAD /connect', '/connect'],
    ['HEAD /reconnect/:connectionId', '/reconnect/1'],
    ['HEAD /manage', '/manage'],
    ['HEAD /callback', '/callback?state=x&code=y'],
  ] as const) {
    add({
      name: `${route} starts nothing and mints no code`,
      route,
      prepare: (w) => ({
        method: 'HEAD',
        path: path === '/reconnect/1' ? `/reconnect/${w.victim.connectionIds[0]}` : path,
        headers: [as(w.attacker.userId), cookie(w.attackerCookie)],
      }),
      status: 405,
      check: (res) => expect(res.headers.get('allow')).toEqual(['GET']),
    });
  }

  // --- User ids -----------------------------------------------------------------------------------------
  const badHeaderIds: [string, string, number][] = [
    ['empty', '', 400],
    ['129 characters', 'u'.repeat(129), 400],
    ['a tab inside', 'a\tb', 400],
    ['a control character (refused by the HTTP parser)', 'a\u0001b', 400],
    ['a bidi override (UTF-8 bytes)', 'victim\u202E', 400],
    ['a zero-width space (UTF-8 bytes)', 'vic\u200Btim', 400],
    ['a trailing no-break space', 'victim\u00A0', 400],
  ];
  for (const [what, id, status] of badHeaderIds) {
    add({
      name: `header user id: ${what}`,
      route: 'GET /me/connections',
      prepare: () => get('/me/connections', ['X-User-Id', id]),
      status,
    });
  }
  add({
    name: 'header user id: empty, on a flow route',
    route: 'GET /connect',
    prepare: () => get('/connect', ['X-User-Id', ''], HTML),
    status: 400,
    check: (res) => errorPage(res, 'USER_ID_INVALID'),
  });
  add({
    name: 'header user id: 128 characters is accepted (control)',
    route: 'GET /me/connections',
    prepare: () => ({ req: get('/me/connections', as('u'.repeat(128))), allow: [{ kind: 'cache', userId: 'u'.repeat(128) }] }),
    status: 200,
    check: (res) => linkedAnswer(res, false),
  });
  for (const lookAlike of ['*', 'victim*', '{victim}', 'VICTIM', '../victim', 'victim%00', 'token:victim']) {
    add({
      name: `header user id that names no one else: ${lookAlike}`,
      route: 'GET /me/connections',
      // Only that id's own (empty) connections list may be cached.
      prepare: () => ({ req: get('/me/connections', as(lookAlike)), allow: [{ kind: 'cache', userId: lookAlike }] }),
      status: 200,
      check: (res) => linkedAnswer(res, false),
    });
  }
  add({
    name: 'JWT: empty subject (no user)',
    route: 'GET /me/connections',
    on: 'jwt',
    prepare: async () => get('/me/connections', ['Authorization', `Bearer ${await bearerJwt('')}`]),
    status: 401,
    check: (res) => problem(res, 'USER_REQUIRED'),
  });
  const badJwtSubjects: [string, string][] = [
    ['129-character subject', 'j'.repeat(129)],
    ['subject with a newline and a forged log line', 'victim\n{"level":"fatal"}'],
    ['subject with a bidi override', '\u202Evictim'],
    ['subject with a zero-width joiner', 'vic\u200Dtim'],
  ];
  for (const [what, sub] of badJwtSubjects) {
    add({
      name: `JWT: ${what}`,
      route: 'GET /me/connections',
      on: 'jwt',
      prepare: async () => get('/me/connections', ['Authorization', `Bearer ${await bearerJwt(sub)}`]),
      status: 400,
      check: (res) => problem(res, 'USER_ID_INVALID'),
    });
  }
  add({
    name: 'JWT: the victim’s id signed with another key',
    route: 'GET /me/connections',
    on: 'jwt',
    prepare: async (w) => get('/me/connections', ['Authorization', `Bearer ${await bearerJwt(w.victim.userId, { secret: `x${JWT_SECRET}` })}`]),
    status: 401,
  });
  add({
    name: 'JWT: alg none',
    route: 'GET /me/connections',
    on: 'jwt',
    prepare: (w) => {
      const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      return get('/me/connections', ['Authorization', `Bearer ${part({ alg: 'none' })}.${part({ sub: w.victim.userId, exp: 4102444800 })}.`]);
    },
    status: 401,
  });
  add({
    name: 'JWT: expired',
    route: 'GET /me/connections',
    on: 'jwt',
    prepare: async (w) => get('/me/connections', ['Authorization', `Bearer ${await bearerJwt(w.victim.userId, { expiresIn: '-1h' })}`]),
    status: 401,
  });
  const badDemoIds: [string, string][] = [
    ['empty', ''],
    ['NUL inside', 'a\u0000b'],
    ['a bidi override', 'admin\u202E'],
    ['a zero-width space', '\u200Badmin'],
    ['129 characters', 'd'.repeat(129)],
    ['a newline and a forged log line', 'x\n{"level":"fatal","msg":"forged"}'],
  ];
  for (const [what, userId] of badDemoIds) {
    add({
      name: `demo sign-in user id: ${what}`,
      route: 'POST /demo/session',
      on: 'demo',
      prepare: () => send('POST', '/demo/session', JSON.stringify({ userId }), CSRF, JSON_TYPE),
      status: 400,
      check: (res) => problem(res, 'USER_ID_INVALID'),
    });
  }

  // --- Forged and replayed states -------------------------------------------------------------------------
  add({
    name: 'a forged random state',
    route: 'GET /callback',
    prepare: (w) => get(`/callback?state=${randomBytes(32).toString('base64url')}&code=x`, as(w.attacker.userId), cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'another browser’s state and real code, with the attacker’s session',
    route: 'GET /callback',
    prepare: async (w) => {
      const other = await finishedWebview(w.stacks.header, fresh('bystander'));
      return { req: get(other.callback, as(w.attacker.userId), cookie(w.attackerCookie)), secrets: [other.code], deletes: [other.powensUserId] };
    },
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'the attacker’s own callback link opened in the victim’s browser (login CSRF)',
    route: 'GET /callback',
    prepare: async (w) => {
      const mallory = await finishedWebview(w.stacks.header, fresh('mallory'));
      const victimBrowser = await startedFlow(w.stacks.header, fresh('bystander'));
      return { req: get(mallory.callback, as('bystander'), cookie(victimBrowser.cookie)), secrets: [mallory.code], deletes: [mallory.powensUserId] };
    },
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'a session cookie with a forged signature',
    route: 'GET /callback',
    prepare: async (w) => {
      const other = await startedFlow(w.stacks.header, fresh('bystander'));
      const forged = other.cookie.replace(/\.[^.;]+$/, `.${randomBytes(32).toString('base64url')}`);
      return get(`/callback?state=${q(other.state)}&code=x`, as('bystander'), cookie(forged));
    },
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'a stolen session id sent unsigned',
    route: 'GET /callback',
    prepare: async (w) => {
      const other = await startedFlow(w.stacks.header, fresh('bystander'));
      return get(`/callback?state=${q(other.state)}&code=x`, as('bystander'), cookie(`powens-bff.sid=${sessionIdOf(other.cookie)}`));
    },
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'a real state without any session cookie',
    route: 'GET /callback',
    prepare: async (w) => {
      const other = await finishedWebview(w.stacks.header, fresh('bystander'));
      return { req: get(other.callback, as('bystander')), secrets: [other.code], deletes: [other.powensUserId] };
    },
    status: 400,
    check: (res) => errorPage(res, 'SESSION_COOKIE_MISSING'),
  });
  add({
    name: 'a replayed successful callback only says it is done (no second exchange, nothing stored)',
    route: 'GET /callback',
    prepare: async (w) => {
      const user = fresh('replayer');
      const done = await finishedWebview(w.stacks.header, user);
      const first = await done.b.get(done.callback);
      if (first.status !== 303) throw new Error(`the first callback answered ${first.status}`);
      return { req: get(done.callback, as(user), cookie(done.b.cookieHeader())), secrets: [done.code] };
    },
    status: 200,
    check: (res) => {
      expect(res.header('content-type')).toMatch(/^text\/html/);
      expect(res.body).toContain('<h1>Your bank is connected</h1>');
      expect(res.body).toMatch(new RegExp(`data-action="back" href="${LANDING}\\?connection_id=\\d+"`));
    },
  });
  add({
    name: 'a successful callback replayed in another browser session',
    route: 'GET /callback',
    prepare: async (w) => {
      const done = await finishedWebview(w.stacks.header, fresh('replayer'));
      if ((await done.b.get(done.callback)).status !== 303) throw new Error('the first callback failed');
      return { req: get(done.callback, as(w.attacker.userId), cookie(w.attackerCookie)), secrets: [done.code] };
    },
    status: 400,
    check: (res) => errorPage(res, 'STATE_INVALID'),
  });
  add({
    name: 'a successful callback replayed in the same browser by another signed-in user',
    route: 'GET /callback',
    prepare: async (w) => {
      const done = await finishedWebview(w.stacks.header, fresh('replayer'));
      if ((await done.b.get(done.callback)).status !== 303) throw new Error('the first callback failed');
      return { req: get(done.callback, as(fresh('other')), cookie(done.b.cookieHeader())), secrets: [done.code] };
    },
    status: 400,
    check: (res) => {
      errorPage(res, 'STATE_INVALID');
      expect(res.body).not.toContain('connection_id=');
    },
  });
  add({
    name: 'a flow finished in the same browser by another signed-in user',
    route: 'GET /callback',
    prepare: async (w) => {
      const started = await finishedWebview(w.stacks.header, fresh('alpha'));
      return {
        req: get(started.callback, as(fresh('beta')), cookie(started.cookie)),
        allow: [{ kind: 'flow-consumed', sessionId: sessionIdOf(started.cookie), state: started.state }],
        secrets: [started.code],
        deletes: [started.powensUserId],
      };
    },
    status: 400,
    check: (res) => errorPage(res, 'FLOW_USER_MISMATCH'),
  });
  add({
    name: 'state given twice',
    route: 'GET /callback',
    prepare: (w) => get('/callback?state=a&state=b', cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'BAD_REQUEST'),
  });
  add({
    name: 'state as a bracketed parameter',
    route: 'GET /callback',
    prepare: (w) => get('/callback?state[x]=a', cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'STATE_MISSING'),
  });
  add({
    name: 'a code without a state',
    route: 'GET /callback',
    prepare: (w) => get('/callback?code=abc', cookie(w.attackerCookie)),
    status: 400,
    check: (res) => errorPage(res, 'STATE_MISSING'),
  });

  // --- Brute-forcing states: the per-IP limit stops it ---------------------------------------------------
  add({
    name: 'brute-forcing states is stopped by the per-IP rate limit',
    route: 'GET /callback',
    on: 'limited',
    prepare: async (w) => {
      const s = w.stacks.limited;
      // The attacker's budget for the minute, spent on guesses; each one is refused.
      for (let i = 0; i < BRUTE_LIMIT; i++) {
        const guess = await rawRequest(s.server.url, get(`/callback?state=${randomBytes(32).toString('base64url')}&code=x`, cookie('powens-bff.sid=s%3Ax.y')));
        expect(guess.status).toBe(400);
      }
      return get(`/callback?state=${randomBytes(32).toString('base64url')}&code=x`, cookie('powens-bff.sid=s%3Ax.y'));
    },
    status: 429,
    check: (res) => {
      expect(Number(res.header('retry-after'))).toBeGreaterThan(0);
      errorPage(res, 'RATE_LIMITED');
    },
  });

  // --- Log injection ---------------------------------------------------------------------------------------
  const requestIdProbes: [string, string][] = [
    ['quotes and braces of a forged JSON field', 'x","level":"fatal","y":"'],
    ['300 characters', 'r'.repeat(300)],
    ['a Unicode line separator (UTF-8 bytes)', 'a\u2028{"level":"fatal"}'],
    ['markup', '<script>alert(1)</script>'],
  ];
  for (const [what, id] of requestIdProbes) {
    add({
      name: `X-Request-Id with ${what} is replaced, not echoed`,
      route: 'GET /healthz',
      prepare: () => get('/healthz', ['X-Request-Id', id]),
      status: 200,
      check: (res) => expect(res.header('x-request-id')).toMatch(/^[0-9a-f-]{36}$/),
    });
  }
  add({
    name: 'X-Request-Id with a bare LF and a forged JSON line (refused by the HTTP parser)',
    route: 'GET /healthz',
    prepare: () => get('/healthz', ['X-Request-Id', 'a\n{"level":"fatal","msg":"forged"}']),
    status: 400,
  });
  add({
    name: 'a plain X-Request-Id is honoured (control)',
    route: 'GET /readyz',
    prepare: () => get('/readyz', ['X-Request-Id', 'req-123.abc:def']),
    status: 200,
    check: (res) => expect(res.header('x-request-id')).toBe('req-123.abc:def'),
  });
  add({
    name: 'an encoded newline and a forged JSON line in the path',
    route: '-',
    prepare: () => get(`/connect${q('\n{"level":"fatal","msg":"forged"}')}`, HTML),
    status: 404,
  });
  add({ name: 'a raw Unicode line separator in the path (refused by the HTTP parser)', route: '-', prepare: () => get('/connect\u2028x'), status: 400 });

  // --- Operations and assets ---------------------------------------------------------------------------------
  add({ name: 'metrics without the token', route: 'GET /metrics', prepare: () => get('/metrics'), status: 401 });
  add({
    name: 'metrics with a wrong token',
    route: 'GET /metrics',
    prepare: () => get('/metrics', ['Authorization', `Bearer ${METRICS_TOKEN}x`]),
    status: 401,
  });
  add({
    name: 'metrics name routes by template, never a raw path, id or value sent by a client',
    route: 'GET /metrics',
    prepare: () => get('/metrics', ['Authorization', `Bearer ${METRICS_TOKEN}`]),
    status: 200,
    check: (res) => {
      for (const n of ['<script', 'evil', 'victim', 'wanderer', '%2e', 'DROP', 'forged']) expect(res.body).not.toContain(n);
    },
  });
  add({ name: 'a health check with markup in its query', route: 'GET /healthz', prepare: () => get(`/healthz?${q('<script>')}`), status: 200 });
  add({
    name: 'the stylesheet with markup in its query',
    route: 'GET /assets/app.css',
    prepare: () => get(`/assets/app.css?${q('<script>')}`),
    status: 200,
    check: (res) => expect(res.header('content-type')).toMatch(/^text\/css/),
  });
  add({
    name: 'the API description with markup in its query (static JSON, nothing echoed)',
    route: 'GET /openapi.json',
    prepare: () => get(`/openapi.json?${q('"><script>alert(1)</script>')}`),
    status: 200,
    check: (res) => {
      expect(res.header('content-type')).toMatch(/^application\/json/);
      expect(res.body).not.toContain('<script');
    },
  });
  // The connector list needs no user: warmed first, so the attack itself changes nothing in Redis.
  const warmConnectors = async (s: Stack): Promise<void> => {
    const res = await fetch(`${s.url}/connectors`);
    if (res.status !== 200) throw new Error(`GET /connectors answered ${res.status}`);
  };
  add({
    name: 'the connector list with markup in its query and a forged user header (the same list for everyone, nothing echoed)',
    route: 'GET /connectors',
    prepare: async (w) => {
      await warmConnectors(w.stacks.header);
      return get(`/connectors?${q('"><script>alert(1)</script>')}&connector_uuid=${q('<b>')}`, as('victim'), HTML);
    },
    status: 200,
    check: (res) => {
      expect(res.header('content-type')).toMatch(/^application\/json/);
      for (const n of ['<script', '<b>', 'victim', 'onerror']) expect(res.body).not.toContain(n);
      expect((JSON.parse(res.body) as { connectors: unknown[] }).connectors.length).toBeGreaterThan(0);
    },
  });
  add({
    name: 'the connector list with a forged JWT: served as to anyone, no 401 that would tell a valid token from another',
    route: 'GET /connectors',
    on: 'jwt',
    prepare: async (w) => {
      await warmConnectors(w.stacks.jwt);
      return get('/connectors', ['Authorization', `Bearer ${await bearerJwt('victim', { secret: 'x'.repeat(40) })}`]);
    },
    status: 200,
    check: (res) => expect(res.body).not.toContain('victim'),
  });
  add({ name: 'the script path with an encoded ../', route: 'GET /assets/demo.js', prepare: () => get('/assets/..%2Fsrc%2Fconfig.ts'), status: 404 });
  add({
    name: 'the demo script with markup in its query',
    route: 'GET /assets/demo.js',
    prepare: () => get(`/assets/demo.js?${q('"></script><script>alert(1)</script>')}`),
    status: 200,
    check: (res) => expect(res.header('content-type')).toMatch(/^text\/javascript/),
  });

  return rows;
}

// ---------------------------------------------------------------------------------------------
// The harness

let testRedis: TestRedis;
let emulator: RunningEmulator;
let world: World;

async function link(s: Stack, userId: string, connections: number): Promise<Linked> {
  const added = s.emulator.emulator.knobs.addUser({ connections: Array.from({ length: connections }, () => ({})) });
  const ok = await s.built.tokens.putIfAbsent(userId, { token: added.token, powensUserId: added.userId, createdAt: new Date().toISOString() });
  if (!ok) throw new Error(`${userId} was linked already`);
  return { userId, token: added.token, powensUserId: added.userId, connectionIds: added.connectionIds };
}

beforeAll(async () => {
  testRedis = await startTestRedis();
  emulator = await startEmulator({ port: 0, clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] });
  const common = { testRedis, emulator };
  const header = await startStack({
    ...common,
    env: { CORS_ORIGINS: APP_ORIGIN, WEBHOOK_HMAC_SECRET: HMAC_SECRET, WEBHOOK_BODY_LIMIT_BYTES: '2048', METRICS_TOKEN },
  });
  const demo = await startStack({ ...common, env: { AUTH_MODE: 'demo', CORS_ORIGINS: APP_ORIGIN } });
  const jwt = await startStack({ ...common, env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET } });
  const limited = await startStack({ ...common, env: { RATE_LIMIT_PER_IP: String(BRUTE_LIMIT) } });

  const victim = await link(header, 'victim', 2);
  const attacker = await link(header, 'attacker', 1);
  const demoVictim = await link(demo, 'demo-victim', 1);
  const knobs = emulator.emulator.knobs;
  for (const id of [victim.connectionIds[0], demoVictim.connectionIds[0]]) {
    knobs.setConnectionField(id ?? 0, { connector: { name: MARKUP }, state: 'wrongpass', error_message: MARKUP_MESSAGE });
  }

  const attackerBrowser = header.browser(attacker.userId);
  if ((await attackerBrowser.get('/connect')).status !== 302) throw new Error('the attacker could not start a flow');
  const demoBrowser = demo.browser();
  const signIn = await demoBrowser.request('POST', '/demo/session', {
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ userId: demoVictim.userId }),
  });
  if (signIn.status !== 204) throw new Error('the demo victim could not sign in');

  const stacks = { header, demo, jwt, limited };
  const secrets = [
    TEST_CLIENT_SECRET,
    HMAC_SECRET,
    METRICS_TOKEN,
    JWT_SECRET,
    victim.token,
    attacker.token,
    demoVictim.token,
    ...Object.values(stacks).flatMap((s) => [...s.config.sessionSecrets, ...s.config.tokenKeys.map((k) => k.key.toString('base64'))]),
  ];
  world = { stacks, victim, attacker, demoVictim, attackerCookie: attackerBrowser.cookieHeader(), demoCookie: demoBrowser.cookieHeader(), secrets };
});

afterAll(async () => {
  if (world !== undefined) for (const s of Object.values(world.stacks)) await s.close();
  await emulator.close();
  await testRedis.close();
});

type Change = { key: string; what: 'added' | 'removed' | 'changed'; value: string | undefined };

function changes(before: Map<string, string>, after: Map<string, string>, keys: Keys): Change[] {
  const out: Change[] = [];
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    // Rate-limit counters move with every request by design.
    if (key.startsWith(keys.rateLimitPrefix)) continue;
    const a = before.get(key);
    const b = after.get(key);
    if (a === b) continue;
    out.push({ key, what: a === undefined ? 'added' : b === undefined ? 'removed' : 'changed', value: b });
  }
  return out;
}

/** The changes no allowance of the row explains (the allowances check what they allow). */
function unexplained(all: Change[], allow: Allowance[], keys: Keys, prefix: string): string[] {
  const left: string[] = [];
  const newFlows = all.filter((c) => c.what === 'added' && c.key.startsWith(`${prefix}flow:`));
  for (const a of allow) {
    if (a.kind !== 'new-flow') continue;
    expect(newFlows).toHaveLength(1);
    const flow = JSON.parse(newFlows[0]?.value ?? '{}') as PendingFlow;
    expect(flow.returnTo).toBe(a.returnTo);
  }
  for (const c of all) {
    const ok = allow.some((a) => {
      switch (a.kind) {
        // A session that names a user enters that user's set of sessions (the bound on sessions per user).
        case 'new-session':
          return (c.what === 'added' && c.key.startsWith(keys.sessionPrefix)) || (c.what !== 'removed' && c.key.startsWith(`${prefix}user-sessions:`));
        case 'new-flow':
          return (
            (c.what === 'added' && (c.key.startsWith(keys.sessionPrefix) || c.key.startsWith(`${prefix}flow:`))) ||
            (c.what !== 'removed' && (c.key.startsWith(`${prefix}flows:`) || c.key.startsWith(`${prefix}user-sessions:`)))
          );
        case 'flow-consumed': {
          const s = digest(a.sessionId);
          return (c.what === 'removed' && c.key === keys.flow(s, digest(a.state))) || c.key === keys.flowIndex(s);
        }
        case 'cache':
          return [keys.connectionsCache(a.userId), keys.connectionsLock(a.userId), keys.connectionsGeneration(a.userId)].includes(c.key);
        case 'webhook-seen':
          return c.what === 'added' && c.key === keys.webhookSeen(a.id);
      }
      return false;
    });
    if (!ok) left.push(`${c.what} ${c.key}`);
  }
  return left;
}

const CASES = cases();

test('the suite has at least 60 attacks and covers every route of every auth mode', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(60);
  expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  const attacked = new Set(CASES.map((c) => c.route));
  for (const s of Object.values(world.stacks)) {
    for (const r of listRoutes(s.built.app))
      expect({ route: `${r.method} ${r.path}`, attacked: attacked.has(`${r.method} ${r.path}`) }).toEqual({ route: `${r.method} ${r.path}`, attacked: true });
  }
});

test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const w = world;
  const s = w.stacks[c.on ?? 'header'];
  const keys = createKeys(s.config.redis.prefix);
  const prepared = await c.prepare(w);
  const p: Prepared = 'req' in prepared ? prepared : { req: prepared };

  const redisBefore = await s.dump();
  const powensBefore = emulator.emulator.state.snapshot();
  const logsBefore = s.logs.length;
  const res = await rawRequest(s.server.url, p.req);
  // The access log line is written when the response finishes; let it land.
  await new Promise((r) => setImmediate(r));

  expect(res.status).toBeLessThan(500);
  expect(res.status).toBe(c.status);
  await c.check?.(res, w);

  await s.built.connections.idle();
  expect(unexplained(changes(redisBefore, await s.dump(), keys), p.allow ?? [], keys, s.config.redis.prefix)).toEqual([]);
  const deletes = p.deletes ?? [];
  expect(emulator.emulator.state.snapshot()).toEqual({ users: powensBefore.users.filter((u) => !deletes.includes(u.id)) });
  for (const id of deletes) expect(powensBefore.users.some((u) => u.id === id)).toBe(true);

  const newLogs = s.logs.slice(logsBefore);
  const exposed = `${res.head}\n${res.body}\n${newLogs.join('')}`;
  for (const secret of [...w.secrets, ...(p.secrets ?? [])]) {
    expect({ secretLeaked: exposed.includes(secret) }).toEqual({ secretLeaked: false });
  }
  for (const line of newLogs) {
    expect(line.endsWith('\n') && line.indexOf('\n') === line.length - 1).toBe(true);
    expect(() => JSON.parse(line) as unknown).not.toThrow();
  }
});

test('after every attack the victims are still linked, with all their connections', async () => {
  const header = world.stacks.header;
  expect(await header.built.tokens.get(world.victim.userId)).toMatchObject({ token: world.victim.token });
  expect(await world.stacks.demo.built.tokens.get(world.demoVictim.userId)).toMatchObject({ token: world.demoVictim.token });
  for (const v of [world.victim, world.demoVictim]) {
    const user = emulator.emulator.state.snapshot().users.find((u) => u.id === v.powensUserId);
    expect(user?.connections.map((c) => c.id)).toEqual(v.connectionIds);
  }
});
