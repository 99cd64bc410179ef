import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeys } from '../../src/storage/keys.js';
import { counter, settled } from '../helpers/links.js';
import { logEntries } from '../helpers/pages.js';
import { startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

/**
 * The orphan bookkeeping of a first connection (docs/REFERENCE.md, "GET /callback") against a
 * hand-written Powens stand-in that shares no code with the emulator: it answers only the four
 * calls the bookkeeping makes (exchange a code, who is this token, delete that user, revoke this
 * token), the way Powens documents them, and records every call. So these tests see what the
 * service asks of Powens, not what the emulator happens to accept.
 */

interface Call {
  method: string;
  path: string;
  /** The bearer token, or the exchanged code. */
  credential: string;
}

class PowensFixture {
  readonly calls: Call[] = [];
  /** Codes Powens would accept, and the user each names. */
  readonly codes = new Map<string, number>();
  /** Live tokens and their user. */
  readonly tokens = new Map<string, number>();
  readonly deletedUsers: number[] = [];
  /** Statuses to answer instead, per `METHOD path`, one per call, in order. */
  readonly failures = new Map<string, number[]>();
  private server: Server | undefined;
  private minted = 0;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/2.0`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  callsTo(method: string, path: string): Call[] {
    return this.calls.filter((c) => c.method === method && c.path === path);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const path = (req.url ?? '').replace(/^\/2\.0/, '').split('?')[0] ?? '';
    const method = req.method ?? '';
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const error = (status: number, code: string): void => json(status, { code, description: code, message: null, request_id: 1 });

    if (method === 'POST' && path === '/auth/token/access') {
      const params = JSON.parse(body === '' ? '{}' : body) as Record<string, string>;
      this.calls.push({ method, path, credential: params.code ?? '' });
      const failure = this.failures.get(`${method} ${path}`)?.shift();
      if (failure !== undefined) return error(failure, 'bug');
      if (params.client_id !== TEST_CLIENT_ID || params.client_secret !== TEST_CLIENT_SECRET) return error(401, 'invalidClient');
      const user = this.codes.get(params.code ?? '');
      if (user === undefined) return error(400, 'invalidValue');
      this.codes.delete(params.code ?? '');
      const token = `fixture-token-${++this.minted}-${user}`;
      this.tokens.set(token, user);
      return json(200, { access_token: token, token_type: 'Bearer' });
    }
    this.calls.push({ method, path, credential: bearer });
    const failure = this.failures.get(`${method} ${path}`)?.shift();
    if (failure !== undefined) return error(failure, 'bug');
    const user = this.tokens.get(bearer);
    if (user === undefined) return error(401, 'invalidToken');
    if (method === 'GET' && path === '/users/me') return json(200, { id: user, signin: '2026-11-24 10:00:00' });
    if (method === 'DELETE' && path === '/users/me') {
      this.deletedUsers.push(user);
      for (const [t, u] of this.tokens) if (u === user) this.tokens.delete(t);
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE' && path === '/auth/token') {
      this.tokens.delete(bearer);
      res.writeHead(204).end();
      return;
    }
    error(404, 'notFound');
  }
}

const fixture = new PowensFixture();
let stack: Stack;
let from = 0;

beforeAll(async () => {
  await fixture.start();
  stack = await startStack({ env: { POWENS_API_URL: fixture.url, POWENS_LINK_MODE: 'exchange' } });
});
afterAll(async () => {
  await stack.close();
  await fixture.stop();
});
beforeEach(() => {
  from = stack.logs.length;
});
afterEach(async () => {
  await settled(stack);
  fixture.calls.length = 0;
  fixture.deletedUsers.length = 0;
  fixture.failures.clear();
});

/** A pending flow of `userId` (its browser and state): /connect answers with the webview's URL. */
async function pendingFlow(userId: string): Promise<{ b: ReturnType<Stack['browser']>; state: string }> {
  const b = stack.browser(userId);
  const hop = await b.get('/connect');
  expect(hop.status).toBe(302);
  return { b, state: new URL(hop.location ?? '').searchParams.get('state') ?? '' };
}

/** A code Powens would accept, naming Powens user `powensUserId` (as a webview opened without a code returns). */
function codeFor(powensUserId: number): string {
  const code = `fixture-code-${powensUserId}-${Math.random().toString(36).slice(2)}`;
  fixture.codes.set(code, powensUserId);
  return code;
}

function logsWith(message: string): Record<string, unknown>[] {
  return logEntries(stack, from).filter((e) => e.msg === message);
}

describe('a refused callback that carries a code', () => {
  it('exchanges it, asks whose it is, and deletes that new Powens user with its own token; counted and logged with its id', async () => {
    const { b } = await pendingFlow('forger');
    const code = codeFor(101);
    const page = await b.get(`/callback?state=forged-state&code=${code}`);
    expect(page.status).toBe(400);
    await settled(stack);
    expect(fixture.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /auth/token/access', 'GET /users/me', 'DELETE /users/me']);
    expect(fixture.callsTo('POST', '/auth/token/access')[0]?.credential).toBe(code);
    const token = fixture.callsTo('GET', '/users/me')[0]?.credential ?? '';
    expect(token).toMatch(/^fixture-token-/);
    expect(fixture.callsTo('DELETE', '/users/me')[0]?.credential).toBe(token);
    expect(fixture.deletedUsers).toEqual([101]);
    expect(await counter(stack, 'powens_users_created_total', { reason: 'exchange' })).toBeGreaterThanOrEqual(1);
    expect(await counter(stack, 'powens_users_deleted_total', { reason: 'refused_callback', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(logsWith('Powens user created')).toEqual([expect.objectContaining({ powensUserId: 101, reason: 'exchange' })]);
    expect(logsWith('Powens user deleted')).toEqual([expect.objectContaining({ powensUserId: 101, reason: 'refused_callback' })]);
    // Never the token or the code in a log.
    expect(stack.logs.slice(from).join('')).not.toContain(token);
    expect(stack.logs.slice(from).join('')).not.toContain(code);
  });

  it('without any session cookie or state, still exchanges it and deletes its user', async () => {
    const page = await stack.browser('nobody').get(`/callback?code=${codeFor(102)}`);
    expect(page.status).toBe(400);
    await settled(stack);
    expect(fixture.deletedUsers).toEqual([102]);
  });

  it('naming a Powens user an app user is linked to (the index knows it): only the new token is revoked', async () => {
    const linked = { token: 'fixture-token-linked-103', powensUserId: 103, createdAt: new Date().toISOString() };
    fixture.tokens.set(linked.token, 103);
    expect(await stack.built.tokens.putIfAbsent('linked-user', linked)).toBe(true);
    const { b } = await pendingFlow('someone-else');
    await b.get(`/callback?state=forged-state&code=${codeFor(103)}`);
    await settled(stack);
    expect(fixture.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /auth/token/access', 'GET /users/me', 'DELETE /auth/token']);
    expect(fixture.callsTo('DELETE', '/auth/token')[0]?.credential).not.toBe(linked.token);
    expect(fixture.deletedUsers).toEqual([]);
    expect(fixture.tokens.get(linked.token)).toBe(103);
    expect(await stack.built.tokens.get('linked-user')).toMatchObject({ token: linked.token });
  });

  it('naming the Powens user of the signed-in user, whose index entry is missing: only the new token is revoked', async () => {
    const linked = { token: 'fixture-token-linked-104', powensUserId: 104, createdAt: new Date().toISOString() };
    fixture.tokens.set(linked.token, 104);
    expect(await stack.built.tokens.putIfAbsent('unindexed-user', linked)).toBe(true);
    await stack.inspect.del(createKeys(stack.config.redis.prefix).powensUser(104));
    // Signed in, but no session cookie: refused before the flow is even looked up.
    const page = await stack.browser('unindexed-user').get(`/callback?state=forged-state&code=${codeFor(104)}`);
    expect(page.status).toBe(400);
    await settled(stack);
    expect(fixture.callsTo('DELETE', '/users/me')).toEqual([]);
    expect(fixture.callsTo('DELETE', '/auth/token')).toHaveLength(1);
    expect(fixture.deletedUsers).toEqual([]);
  });

  it('that Powens refuses (spent, unknown): nothing is deleted, nothing is asked again', async () => {
    const { b } = await pendingFlow('spender');
    await b.get('/callback?state=forged-state&code=never-issued');
    await settled(stack);
    expect(fixture.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /auth/token/access']);
  });

  it('when Powens fails the exchange: asked again in the background, then deleted', async () => {
    fixture.failures.set('POST /auth/token/access', [503]);
    const { b } = await pendingFlow('unlucky');
    await b.get(`/callback?state=forged-state&code=${codeFor(105)}`);
    await settled(stack);
    expect(fixture.callsTo('POST', '/auth/token/access')).toHaveLength(2);
    expect(fixture.deletedUsers).toEqual([105]);
  });

  it('when the deletion fails: tried again until it is done, each attempt counted', async () => {
    fixture.failures.set('DELETE /users/me', [503]);
    const failedBefore = await counter(stack, 'powens_users_deleted_total', { reason: 'refused_callback', outcome: 'failed' });
    const { b } = await pendingFlow('retried');
    await b.get(`/callback?state=forged-state&code=${codeFor(106)}`);
    await settled(stack);
    expect(fixture.callsTo('DELETE', '/users/me')).toHaveLength(2);
    expect(fixture.deletedUsers).toEqual([106]);
    expect(await counter(stack, 'powens_users_deleted_total', { reason: 'refused_callback', outcome: 'failed' })).toBe(failedBefore + 1);
  });
});

describe('a first connection', () => {
  it('stores the token of a new Powens user and deletes nothing', async () => {
    const { b, state } = await pendingFlow('newcomer');
    const page = await b.get(`/callback?state=${state}&code=${codeFor(201)}&connection_id=9`);
    expect(page.status).toBe(303);
    await settled(stack);
    expect(fixture.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /auth/token/access', 'GET /users/me']);
    expect(await stack.built.tokens.get('newcomer')).toMatchObject({ powensUserId: 201 });
    expect(await stack.built.connections.appUserOf(201)).toBe('newcomer');
  });

  it('that loses the race to another tab deletes its own new Powens user, with its own token', async () => {
    const first = await pendingFlow('two-tabs');
    const second = await pendingFlow('two-tabs');
    expect((await first.b.get(`/callback?state=${first.state}&code=${codeFor(202)}`)).status).toBe(303);
    const lost = await second.b.get(`/callback?state=${second.state}&code=${codeFor(203)}`);
    expect(lost.status).toBe(400);
    await settled(stack);
    expect(fixture.deletedUsers).toEqual([203]);
    expect(await stack.built.tokens.get('two-tabs')).toMatchObject({ powensUserId: 202 });
    expect(await counter(stack, 'powens_users_deleted_total', { reason: 'link_race', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  });

  it('whose code names a Powens user another app user is linked to: not linked, not deleted, the new token revoked', async () => {
    const linked = { token: 'fixture-token-linked-204', powensUserId: 204, createdAt: new Date().toISOString() };
    fixture.tokens.set(linked.token, 204);
    expect(await stack.built.tokens.putIfAbsent('victim', linked)).toBe(true);
    const { b, state } = await pendingFlow('thief');
    const page = await b.get(`/callback?state=${state}&code=${codeFor(204)}`);
    expect(page.status).toBe(400);
    await settled(stack);
    expect(await stack.built.tokens.get('thief')).toBeNull();
    expect(fixture.deletedUsers).toEqual([]);
    expect(fixture.callsTo('DELETE', '/auth/token')).toHaveLength(1);
    expect(fixture.tokens.get(linked.token)).toBe(204);
  });

  it('whose new Powens user cannot be looked up: not stored; deleted once its id is known', async () => {
    // The request's GET and its one retry.
    fixture.failures.set('GET /users/me', [503, 503]);
    const { b, state } = await pendingFlow('lookup-fails');
    const page = await b.get(`/callback?state=${state}&code=${codeFor(205)}`);
    expect(page.status).toBe(502);
    await settled(stack);
    expect(await stack.built.tokens.get('lookup-fails')).toBeNull();
    expect(fixture.deletedUsers).toEqual([205]);
  });
});
