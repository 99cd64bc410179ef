import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Config } from '../../src/config.js';
import { completeWebview, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { AppError } from '../../src/errors.js';
import { createLogger, safeError } from '../../src/logging.js';
import { PowensClient, QUEUE_PER_SLOT } from '../../src/powens/client.js';

/** The Powens client against the emulator over HTTP: real sockets, real got, no mocks. */

const CLIENT_ID = 'client-under-test';
const CLIENT_SECRET = 'client-secret-9d2f7e4a1b';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const DOMAIN = 'demo-sandbox.biapi.pro';

let emu: RunningEmulator;
const clients: PowensClient[] = [];

beforeAll(async () => {
  emu = await startEmulator({ port: 0, clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [REDIRECT_URI] }] });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  emu.emulator.knobs.resetAll();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function powensConfig(overrides: Partial<Config['powens']> = {}): Config['powens'] {
  return {
    domain: DOMAIN,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
    apiUrl: emu.apiUrl,
    webviewUrl: emu.url,
    webviewLang: undefined,
    timeoutMs: 2000,
    retries: 2,
    timeZone: 'Europe/Paris',
    pools: { exchange: 4, codes: 4, lists: 4, deletes: 4 },
    ...overrides,
  };
}

function client(overrides: Partial<Config['powens']> = {}): PowensClient {
  const c = new PowensClient(powensConfig(overrides));
  clients.push(c);
  return c;
}

/** A real authorization code: a new Powens user connects Demo Bank in the webview. */
async function authorizationCode(): Promise<string> {
  const query = new URLSearchParams({ domain: DOMAIN, client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, state: 's' });
  const back = await completeWebview(`${emu.url}/en/connect?${query.toString()}`, { kind: 'connect' });
  const code = back.searchParams.get('code');
  if (code === null) throw new Error('the webview returned no code');
  return code;
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err: unknown) {
    if (err instanceof AppError) return err;
    throw new Error(`expected an AppError, got ${inspect(err)}`);
  }
  throw new Error('expected the call to fail');
}

/** Every form in which an error may be shown or logged holds none of `secrets`. */
function expectNoneOf(err: AppError, secrets: string[]): void {
  const forms = [err.message, JSON.stringify(err), JSON.stringify(safeError(err)), inspect(err, { depth: 10 }), String(err.cause)];
  for (const form of forms) {
    for (const secret of secrets) expect(form).not.toContain(secret);
  }
}

describe('token exchange', () => {
  it('exchanges a real code with the client secret and reads the token', async () => {
    const code = await authorizationCode();
    const token = await client().exchangeCode(code);
    expect(token).toEqual(expect.any(String));
    expect(emu.emulator.state.findUserByToken(token)).toBeDefined();
    expect(emu.emulator.knobs.calls('token.access')).toBe(1);
  });

  it('reads the token from auth_token when the answer has only that field', async () => {
    emu.emulator.knobs.fail('token.access', { status: 200, body: { auth_token: 'only-auth-token', type: 'permanent' }, times: 1 });
    await expect(client().exchangeCode('any-code')).resolves.toBe('only-auth-token');
  });

  it('reads the token from access_token when the answer has only that field', async () => {
    emu.emulator.knobs.fail('token.access', { status: 200, body: { access_token: 'only-access-token', token_type: 'Bearer' }, times: 1 });
    await expect(client().exchangeCode('any-code')).resolves.toBe('only-access-token');
  });

  it('refuses an answer with neither token field', async () => {
    emu.emulator.knobs.fail('token.access', { status: 200, body: { token_type: 'Bearer' }, times: 1 });
    const err = await failure(client().exchangeCode('any-code'));
    expect(err.code).toBe('POWENS_BAD_RESPONSE');
  });

  it('reports a wrong client secret as a refusal, not as a stale user token, and never shows the secret or the code', async () => {
    const code = await authorizationCode();
    const wrongSecret = 'wrong-secret-5e8c0a77';
    const err = await failure(client({ clientSecret: wrongSecret }).exchangeCode(code));
    expect(err.code).toBe('POWENS_REJECTED');
    expect(err.status).toBe(502);
    expect(err.logDetail).toMatchObject({ endpoint: 'token.access', status: 401, powensCode: 'invalidClient' });
    expectNoneOf(err, [wrongSecret, CLIENT_SECRET, code]);
  });

  it('reports a used code as a refusal', async () => {
    const code = await authorizationCode();
    await client().exchangeCode(code);
    const err = await failure(client().exchangeCode(code));
    expect(err.code).toBe('POWENS_REJECTED');
    expect(err.logDetail).toMatchObject({ status: 400, powensCode: 'invalidValue' });
    expectNoneOf(err, [CLIENT_SECRET, code]);
  });
});

describe('POST /auth/init', () => {
  it('creates a Powens user with the client credentials: its permanent token and id', async () => {
    const created = await client().initUser();
    expect(created).toEqual({ token: expect.any(String), powensUserId: expect.any(Number), type: 'permanent' });
    expect(emu.emulator.state.findUserByToken(created.token)?.id).toBe(created.powensUserId);
  });

  it('reports a wrong client secret as a refusal, not as a stale user token, and never shows the secret', async () => {
    const err = await failure(client({ clientSecret: 'wrong-secret-1234567' }).initUser());
    expect(err.code).toBe('POWENS_REJECTED');
    expectNoneOf(err, ['wrong-secret-1234567', CLIENT_SECRET]);
    expect(emu.emulator.state.users()).toEqual([]);
  });

  it('refuses an answer without the user id', async () => {
    emu.emulator.knobs.fail('auth.init', { status: 200, body: { auth_token: 'a-token', type: 'permanent' }, times: 1 });
    expect((await failure(client().initUser())).code).toBe('POWENS_BAD_RESPONSE');
  });

  it('is never sent twice, even when it gets no answer', async () => {
    emu.emulator.knobs.hang('auth.init', { times: 1 });
    expect((await failure(client({ timeoutMs: 300 }).initUser())).code).toBe('POWENS_UNAVAILABLE');
    expect(emu.emulator.knobs.calls('auth.init')).toBe(1);
  });
});

describe('user-token calls', () => {
  it('gets a single-use temporary code, the current user, and the connections with their connector', async () => {
    const user = emu.emulator.knobs.addUser();
    const c = client();
    const code = await c.temporaryCode(user.token);
    expect(code).toEqual(expect.any(String));
    expect(await c.currentUser(user.token)).toMatchObject({ id: user.userId });
    const list = await c.listConnections(user.token);
    expect(list.map((x) => x.id)).toEqual(user.connectionIds);
    expect(list[0]?.connector?.name).toBe('Demo Bank');
    const one = await c.getConnection(user.token, user.connectionIds[0] ?? 0);
    expect(one.id).toBe(user.connectionIds[0]);
    expect(one.connector?.name).toBe('Demo Bank');
  });

  it('deletes a connection, then the user', async () => {
    const user = emu.emulator.knobs.addUser({ connections: [{}, {}] });
    const c = client();
    await c.deleteConnection(user.token, user.connectionIds[0] ?? 0);
    expect((await c.listConnections(user.token)).map((x) => x.id)).toEqual([user.connectionIds[1]]);
    await c.deleteUser(user.token);
    expect(emu.emulator.state.users()).toEqual([]);
  });

  it('revokes a token', async () => {
    const user = emu.emulator.knobs.addUser();
    const c = client();
    await c.revokeToken(user.token);
    expect(emu.emulator.state.findUserByToken(user.token)).toBeUndefined();
  });

  it.each([401, 403])('maps a %i to "token no longer valid", keeping the cause', async (status) => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('token.code', { status, times: 1 });
    const err = await failure(client().temporaryCode(user.token));
    expect(err.code).toBe('POWENS_TOKEN_INVALID');
    expect(err.cause).toBeInstanceOf(Error);
    expect((err.cause as Error).name).toBe('HTTPError');
    expect((err.cause as Error).message).toContain(String(status));
    expectNoneOf(err, [user.token, CLIENT_SECRET]);
  });

  it('maps an unknown or foreign connection to "connection not found"', async () => {
    const user = emu.emulator.knobs.addUser();
    const other = emu.emulator.knobs.addUser();
    const err = await failure(client().getConnection(user.token, other.connectionIds[0] ?? 0));
    expect(err.code).toBe('CONNECTION_NOT_FOUND');
    expect(err.status).toBe(404);
  });

  it('maps a 5xx to "Powens unavailable" (502) and keeps the Powens error code for the log', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.me', { status: 500 });
    const err = await failure(client({ retries: 0 }).currentUser(user.token));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect(err.status).toBe(502);
    expect(err.logDetail).toMatchObject({ endpoint: 'users.me', status: 500, powensCode: 'bug' });
    expectNoneOf(err, [user.token]);
  });
});

describe("Powens' request_id in the log detail", () => {
  it.each([
    ['an integer (as the docs type it)', 48213, '48213'],
    ['a string (as the SDK types it)', 'req-7f3a', 'req-7f3a'],
    ['null', null, undefined],
    ['absent', undefined, undefined],
    ['an object', { id: 1 }, undefined],
  ])('is kept as text when it is %s', async (_what, value, logged) => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.me', { status: 400, body: { code: 'invalidValue', description: 'x', message: null, request_id: value } });
    const err = await failure(client({ retries: 0 }).currentUser(user.token));
    expect(err.code).toBe('POWENS_REJECTED');
    expect(err.logDetail).toEqual(expect.objectContaining({ endpoint: 'users.me', status: 400, powensCode: 'invalidValue', powensRequestId: logged }));
  });

  it('is capped at 64 characters', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.me', { status: 500, body: { code: 'bug', request_id: 'r'.repeat(500) } });
    const err = await failure(client({ retries: 0 }).currentUser(user.token));
    expect(err.logDetail?.powensRequestId).toBe('r'.repeat(64));
  });
});

describe('the connector list', () => {
  it("reads the domain's connectors without any token: id, uuid, name and capabilities", async () => {
    const { connectors, skipped } = await client().listConnectors();
    expect(skipped).toBe(0);
    expect(connectors).toContainEqual({ id: 59, uuid: 'f711dd2e-a5d6-5a5b-9b4c-8b0c2b6a8e59', name: 'Demo Bank', capabilities: ['bank'] });
    expect(connectors.every((c) => Object.keys(c).sort().join() === 'capabilities,id,name,uuid')).toBe(true);
    expect(emu.emulator.knobs.calls('connectors.list')).toBe(1);
  });

  it('leaves out hidden connectors and entries without an id, uuid or name, and counts them', async () => {
    const good = { id: 1, uuid: 'u-1', name: 'One', capabilities: ['bank'], extra: 'kept out' };
    emu.emulator.knobs.fail('connectors.list', {
      status: 200,
      body: {
        connectors: [
          good,
          { id: 2, uuid: 'u-2', name: 'Hidden', hidden: true },
          { id: 3, name: 'No uuid' },
          { uuid: 'u-4', name: 'No id' },
          'junk',
          { id: 5, uuid: 'u-5', name: 'No capabilities' },
        ],
        _links: { next: null },
      },
    });
    const { connectors, skipped } = await client().listConnectors();
    expect(connectors).toEqual([
      { id: 1, uuid: 'u-1', name: 'One', capabilities: ['bank'] },
      { id: 5, uuid: 'u-5', name: 'No capabilities', capabilities: [] },
    ]);
    expect(skipped).toBe(4);
  });

  it('maps an answer without a connectors array to "bad response"', async () => {
    emu.emulator.knobs.fail('connectors.list', { status: 200, body: { banks: [] } });
    expect((await failure(client().listConnectors())).code).toBe('POWENS_BAD_RESPONSE');
  });
});

describe('timeouts and retries', () => {
  it('gives up on a call that never answers after the timeout', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.hang('users.me');
    const err = await failure(client({ timeoutMs: 200, retries: 0 }).currentUser(user.token));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect((err.cause as Error & { code?: string }).code).toBe('ETIMEDOUT');
    expect(emu.emulator.knobs.calls('users.me')).toBe(1);
    expectNoneOf(err, [user.token]);
  });

  it('gives up on a token exchange that never answers, without sending it twice', async () => {
    emu.emulator.knobs.hang('token.access');
    const code = 'code-never-answered-41ab';
    const err = await failure(client({ timeoutMs: 200, retries: 2 }).exchangeCode(code));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect((err.cause as Error & { code?: string }).code).toBe('ETIMEDOUT');
    expect(emu.emulator.knobs.calls('token.access')).toBe(1);
    expectNoneOf(err, [code, CLIENT_SECRET]);
  });

  it('retries a GET a bounded number of times', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('connections.list', { status: 503 });
    const err = await failure(client({ retries: 2 }).listConnections(user.token));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect(emu.emulator.knobs.calls('connections.list')).toBe(3);
  });

  it('retries a GET that failed fast, and succeeds when Powens answers again', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.me', { status: 503, times: 1 });
    await expect(client({ retries: 1 }).currentUser(user.token)).resolves.toMatchObject({ id: user.userId });
    expect(emu.emulator.knobs.calls('users.me')).toBe(2);
  });

  it('does not retry a GET past its deadline: POWENS_TIMEOUT_MS bounds the whole call', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.hang('users.me', { times: 1 });
    const err = await failure(client({ timeoutMs: 200, retries: 2 }).currentUser(user.token));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect((err.cause as Error & { code?: string }).code).toBe('ETIMEDOUT');
    expect(emu.emulator.knobs.calls('users.me')).toBe(1);
  });

  it('never retries the token exchange (POST)', async () => {
    emu.emulator.knobs.fail('token.access', { status: 503 });
    const code = 'code-refused-77cd';
    const err = await failure(client({ retries: 3 }).exchangeCode(code));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect(emu.emulator.knobs.calls('token.access')).toBe(1);
    expectNoneOf(err, [code, CLIENT_SECRET]);
  });

  it('never retries a DELETE', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.delete', { status: 503 });
    await failure(client({ retries: 3 }).deleteUser(user.token));
    emu.emulator.knobs.fail('connections.delete', { status: 503 });
    await failure(client({ retries: 3 }).deleteConnection(user.token, user.connectionIds[0] ?? 0));
    expect(emu.emulator.knobs.calls('users.delete')).toBe(1);
    expect(emu.emulator.knobs.calls('connections.delete')).toBe(1);
  });
});

describe('malformed answers', () => {
  it('maps a truncated JSON body to "bad response", with the parse error as the cause and no secret anywhere', async () => {
    emu.emulator.knobs.malformed('token.access');
    const code = 'code-malformed-a1b2c3';
    const err = await failure(client().exchangeCode(code));
    expect(err.code).toBe('POWENS_BAD_RESPONSE');
    expect(err.status).toBe(502);
    expect((err.cause as Error).name).toBe('ParseError');
    expect(emu.emulator.knobs.calls('token.access')).toBe(1);
    expectNoneOf(err, [code, CLIENT_SECRET]);
  });

  it('maps a body that is not JSON to "bad response" without quoting the body, which may hold the token', async () => {
    // A bare token as text (a misconfigured proxy); JSON.parse quotes up to the first ten characters.
    const token = 'tkn3f9a1c7e5b2d8a4f6c0e71';
    emu.emulator.knobs.fail('token.access', { status: 200, body: token, times: 1 });
    const err = await failure(client().exchangeCode('code-as-text-9z8y'));
    expect(err.code).toBe('POWENS_BAD_RESPONSE');
    expect((err.cause as Error).name).toBe('ParseError');
    expectNoneOf(err, [token.slice(0, 8), CLIENT_SECRET]);
  });

  it('does not take a redirect answered to a DELETE as done: it is a "bad response"', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.delete', { status: 302, body: '', headers: { location: 'https://elsewhere.example/' }, times: 1 });
    const err = await failure(client().deleteUser(user.token));
    expect(err.code).toBe('POWENS_BAD_RESPONSE');
    expect(err.status).toBe(502);
    expect(emu.emulator.state.findUserByToken(user.token)).toBeDefined();
  });

  it('maps a body of the wrong shape to "bad response" without echoing the body', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.fail('users.me', { status: 200, body: { id: 'not-a-number-but-a-secretish-value' }, times: 1 });
    const err = await failure(client().currentUser(user.token));
    expect(err.code).toBe('POWENS_BAD_RESPONSE');
    expectNoneOf(err, ['secretish', user.token]);
  });
});

describe('connections to Powens', () => {
  it('keeps the connection alive between calls', async () => {
    const user = emu.emulator.knobs.addUser();
    const c = client();
    const before = emu.connectionsAccepted();
    for (let i = 0; i < 5; i++) await c.currentUser(user.token);
    expect(emu.connectionsAccepted() - before).toBe(1);
  });

  it('reports an unreachable Powens as "unavailable", not a hang or a crash', async () => {
    const closed = await startEmulator({ port: 0 });
    const apiUrl = closed.apiUrl;
    await closed.close();
    const err = await failure(client({ apiUrl, retries: 0 }).currentUser('some-token-value-123'));
    expect(err.code).toBe('POWENS_UNAVAILABLE');
    expect((err.cause as Error & { code?: string }).code).toBe('ECONNREFUSED');
    expectNoneOf(err, ['some-token-value-123']);
  });
});

describe('attempts, retries and failures as the logs and metrics see them', () => {
  function observed(): { client: PowensClient; lines: Record<string, unknown>[]; retries: string[]; calls: string[] } {
    const lines: Record<string, unknown>[] = [];
    const retries: string[] = [];
    const calls: string[] = [];
    const observe = Object.assign((endpoint: string, _s: number, outcome: string) => void calls.push(`${endpoint} ${outcome}`), {
      retried: (endpoint: string) => void retries.push(endpoint),
    });
    const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const c = new PowensClient(powensConfig(), observe, logger);
    clients.push(c);
    return { client: c, lines, retries, calls };
  }

  it('outside a request, a call given up after its retries is one warn line with endpoint, status, attempts and Powens request id', async () => {
    const user = emu.emulator.knobs.addUser();
    const { client: c, lines, retries, calls } = observed();
    emu.emulator.knobs.fail('users.me', { status: 503, body: { code: 'down', request_id: 'req-77' } });
    expect((await failure(c.currentUser(user.token))).code).toBe('POWENS_UNAVAILABLE');
    expect(retries).toEqual(['users.me', 'users.me']);
    expect(calls).toEqual(['users.me POWENS_UNAVAILABLE']);
    expect(lines.filter((l) => l.level === 'debug').map((l) => (l.powens as Record<string, unknown>).attempt)).toEqual([1, 2, 3]);
    expect(lines.filter((l) => l.level !== 'debug')).toEqual([
      expect.objectContaining({
        level: 'warn',
        powens: { endpoint: 'users.me', status: 503, errorCode: 'POWENS_UNAVAILABLE', attempts: 3, powensRequestId: 'req-77' },
      }),
    ]);
    expect(lines.some((l) => 'reqId' in l)).toBe(false);
  });

  it('a call that answers at once is one debug line and no retry', async () => {
    const user = emu.emulator.knobs.addUser();
    const { client: c, lines, retries } = observed();
    await c.currentUser(user.token);
    expect(retries).toEqual([]);
    expect(lines.map((l) => [l.level, (l.powens as Record<string, unknown>).status, (l.powens as Record<string, unknown>).attempt])).toEqual([
      ['debug', 200, 1],
    ]);
    expect(JSON.stringify(lines)).not.toContain(user.token);
  });
});

describe('pools (bulkheads)', () => {
  it('runs at most its size of one kind of call at once; QUEUE_PER_SLOT times as many wait, and the rest are refused at once as "unavailable"', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.hang('connections.list');
    const rejected: string[] = [];
    let inFlight = 0;
    let most = 0;
    const c = new PowensClient(powensConfig({ timeoutMs: 400, retries: 0, pools: { exchange: 1, codes: 1, lists: 2, deletes: 1 } }), undefined, undefined, {
      slot: (_pool, delta) => {
        inFlight += delta;
        most = Math.max(most, inFlight);
      },
      rejected: (pool) => rejected.push(pool),
    });
    clients.push(c);
    const total = 2 + 2 * QUEUE_PER_SLOT + 2;
    const calls = Array.from({ length: total }, () => failure(c.listConnections(user.token)));
    const errors = await Promise.all(calls);
    expect(errors.map((e) => e.code)).toEqual(Array.from({ length: total }, () => 'POWENS_UNAVAILABLE'));
    // Two found the queue full and were refused at once. Two ran and timed out; those that waited
    // either saw their deadline pass first, or got a slot as it was about to.
    const reasons = errors.map((e) => (e.cause instanceof Error ? e.cause.message : ''));
    expect(reasons.filter((r) => r.includes('queue full'))).toHaveLength(2);
    const waited = reasons.filter((r) => r.includes('before the deadline')).length;
    expect(rejected).toEqual(Array.from({ length: 2 + waited }, () => 'lists'));
    expect(most).toBe(2);
    expect(inFlight).toBe(0);
    // A call refused by its pool never reaches Powens (one given a slot as its deadline passed
    // does not either: got sees the deadline already past).
    const reached = emu.emulator.knobs.calls('connections.list');
    expect(reached).toBeGreaterThanOrEqual(2);
    expect(reached).toBeLessThanOrEqual(total - rejected.length);
  });

  it('a kind of call whose pool is full leaves the other kinds their own slots and sockets', async () => {
    const user = emu.emulator.knobs.addUser();
    emu.emulator.knobs.hang('connections.list');
    const c = client({ timeoutMs: 1500, retries: 0, pools: { exchange: 1, codes: 1, lists: 1, deletes: 1 } });
    const lists = Array.from({ length: 3 }, () => failure(c.listConnections(user.token)));
    // The lists' pool is busy and its queue full; the exchange's pool and sockets are free.
    await expect(c.currentUser(user.token)).resolves.toMatchObject({ id: user.userId });
    await expect(c.temporaryCode(user.token)).resolves.toEqual(expect.any(String));
    expect((await Promise.all(lists)).map((e) => e.code)).toEqual(['POWENS_UNAVAILABLE', 'POWENS_UNAVAILABLE', 'POWENS_UNAVAILABLE']);
  });
});
