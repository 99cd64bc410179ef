import { DEMO_BANK_ID } from '../../emulator/index.js';
import { connectBank, expectProblem, freshUser, listConnections, tokenKey } from '../helpers/api.js';
import type { Browser } from '../helpers/browser.js';
import { startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  // A login URL is configured: the JSON API must still answer 401, never redirect to it.
  stack = await startStack({ env: { APP_LOGIN_URL: '/login' } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;

/** A fresh app user with its own browser, sending the CSRF header like the frontend does. */
const newUser = (): { userId: string; b: Browser } => freshUser(stack);

function powensUserOf(connectionId: number): number | undefined {
  return stack.emulator.emulator.state.connection(connectionId)?.id_user ?? undefined;
}

describe('GET /me/connections', () => {
  test('a user with no Powens token is not linked and has no connections', async () => {
    const { b } = newUser();
    const hop = await b.get('/me/connections');
    expect(hop.status).toBe(200);
    expect(hop.headers.get('content-type')).toMatch(/^application\/json/);
    expect(hop.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(hop.text)).toEqual({ linked: false, connections: [] });
  });

  test('lists each Powens connection with its connector, status and ISO 8601 dates (Powens writes Paris time: UTC+1 in winter)', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().setConnectionField(id, {
      last_update: '2026-11-24 10:00:00',
      created: '2026-11-20 08:30:15',
      expire: '2099-02-20 08:30:15',
    });
    const body = await listConnections(b);
    expect(body).toEqual({
      linked: true,
      connections: [
        {
          id,
          connector: { id: DEMO_BANK_ID, name: 'Demo Bank', uuid: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown as string },
          state: null,
          status: 'ok',
          message: null,
          lastUpdate: '2026-11-24T09:00:00Z',
          createdAt: '2026-11-20T07:30:15Z',
          expiresAt: '2099-02-20T07:30:15Z',
          expiresSoon: false,
          active: true,
          reconnectUrl: null,
        },
      ],
    });
  });

  test('a connection that needs the user shows action_needed, the bank message and a reconnect link', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().setConnectionState(id, 'SCARequired', 'Confirm in your banking app.');
    const [c] = (await listConnections(b)).connections;
    expect(c).toEqual(
      expect.objectContaining({
        id,
        state: 'SCARequired',
        status: 'action_needed',
        message: 'Confirm in your banking app.',
        reconnectUrl: `/reconnect/${id}`,
      }),
    );
  });

  test('a state Powens adds later is passed through as unknown', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().setConnectionState(id, 'someFutureState');
    const [c] = (await listConnections(b)).connections;
    expect(c).toEqual(expect.objectContaining({ state: 'someFutureState', status: 'unknown', reconnectUrl: null }));
  });

  test.each([401, 403])('a stored token Powens answers %i for is dropped and the user is not linked', async (status) => {
    const { userId, b } = newUser();
    await connectBank(b);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(1);
    knobs().fail('connections.list', { status, times: 1 });
    const hop = await b.get('/me/connections');
    expect(hop.status).toBe(200);
    expect(JSON.parse(hop.text)).toEqual({ linked: false, connections: [] });
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(0);
    // And it stays that way: nothing asks Powens with the dropped token again.
    const calls = knobs().calls('connections.list');
    expect(await listConnections(b)).toEqual({ linked: false, connections: [] });
    expect(knobs().calls('connections.list')).toBe(calls);
  });

  test('Powens failing is a 502 problem and the token is kept', async () => {
    const { userId, b } = newUser();
    await connectBank(b);
    knobs().fail('connections.list', { status: 500 });
    expectProblem(await b.get('/me/connections'), 502);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(1);
  });

  test('Powens answering something unreadable is a 502 problem', async () => {
    const { b } = newUser();
    await connectBank(b);
    knobs().malformed('connections.list');
    expectProblem(await b.get('/me/connections'), 502);
  });
});

describe('DELETE /me/connections/:id', () => {
  test('removes the connection at Powens and answers 204', async () => {
    const { b } = newUser();
    const keep = await connectBank(b);
    const id = await connectBank(b);
    const hop = await b.request('DELETE', `/me/connections/${id}`);
    expect(hop.status).toBe(204);
    expect(hop.text).toBe('');
    expect(stack.emulator.emulator.state.connection(id)).toBeUndefined();
    expect((await listConnections(b)).connections.map((c) => c.id)).toEqual([keep]);
  });

  test('a connection Powens does not have is a 404 problem', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    await b.request('DELETE', `/me/connections/${id}`);
    expectProblem(await b.request('DELETE', `/me/connections/${id}`), 404);
    expectProblem(await b.request('DELETE', '/me/connections/999999999'), 404);
  });

  test("another user's connection is a 404 and stays where it is", async () => {
    const owner = newUser();
    const id = await connectBank(owner.b);
    const other = newUser();
    await connectBank(other.b);
    expectProblem(await other.b.request('DELETE', `/me/connections/${id}`), 404);
    expect(stack.emulator.emulator.state.connection(id)).toBeDefined();
  });

  test.each(['abc', '0', '-1', '1.5', '12abc', '1e3', '99999999999999999999'])(
    'a non-numeric id (%s) is a 404 problem and Powens is not asked',
    async (raw) => {
      const { b } = newUser();
      await connectBank(b);
      const before = knobs().calls('connections.delete');
      expectProblem(await b.request('DELETE', `/me/connections/${encodeURIComponent(raw)}`), 404);
      expect(knobs().calls('connections.delete')).toBe(before);
    },
  );

  test('a user with no Powens token gets a 404 problem', async () => {
    const { b } = newUser();
    expectProblem(await b.request('DELETE', '/me/connections/1'), 404);
  });

  test('Powens failing is a 502 problem and the connection is still there', async () => {
    const { b } = newUser();
    const id = await connectBank(b);
    knobs().fail('connections.delete', { status: 503 });
    expectProblem(await b.request('DELETE', `/me/connections/${id}`), 502);
    expect(stack.emulator.emulator.state.connection(id)).toBeDefined();
  });
});

describe('DELETE /me/connections (unlink)', () => {
  test('deletes the Powens user, then the stored token, and answers 204', async () => {
    const { userId, b } = newUser();
    const id = await connectBank(b);
    const powensUser = powensUserOf(id);
    expect(powensUser).toBeDefined();
    const hop = await b.request('DELETE', '/me/connections');
    expect(hop.status).toBe(204);
    expect(stack.emulator.emulator.state.users().some((u) => u.id === powensUser)).toBe(false);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(0);
    expect(await listConnections(b)).toEqual({ linked: false, connections: [] });
  });

  test('when Powens cannot delete the user, the token is kept (nothing is orphaned at Powens)', async () => {
    const { userId, b } = newUser();
    const id = await connectBank(b);
    knobs().fail('users.delete', { status: 500 });
    expectProblem(await b.request('DELETE', '/me/connections'), 502);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(1);
    expect(stack.emulator.emulator.state.connection(id)).toBeDefined();
  });

  test('a token Powens no longer accepts is dropped and the unlink succeeds', async () => {
    const { userId, b } = newUser();
    await connectBank(b);
    knobs().fail('users.delete', { status: 401, times: 1 });
    expect((await b.request('DELETE', '/me/connections')).status).toBe(204);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(0);
  });

  test('a Powens user that is already gone (404) counts as unlinked: the token is dropped, not kept forever', async () => {
    const { userId, b } = newUser();
    await connectBank(b);
    knobs().fail('users.delete', { status: 404, times: 1 });
    expect((await b.request('DELETE', '/me/connections')).status).toBe(204);
    expect(await stack.inspect.exists(tokenKey(stack, userId))).toBe(0);
  });

  test('unlinking a user who is not linked is a 204 that changes nothing', async () => {
    const { b } = newUser();
    const before = await stack.dump();
    const calls = knobs().calls();
    expect((await b.request('DELETE', '/me/connections')).status).toBe(204);
    expect(knobs().calls()).toBe(calls);
    expect(await stack.dump()).toEqual(before);
  });
});

describe('who is asking', () => {
  test.each([
    ['GET', '/me/connections'],
    ['DELETE', '/me/connections/1'],
    ['DELETE', '/me/connections'],
  ])('%s %s without a user is a 401 problem, never a redirect (even for a browser)', async (method, path) => {
    const b = stack.browser(undefined, { 'x-csrf': '1', accept: 'text/html,application/xhtml+xml' });
    const hop = await b.request(method, path);
    expectProblem(hop, 401);
  });

  test('an invalid user id is a 400 problem', async () => {
    const b = stack.browser('bad\tid');
    expectProblem(await b.get('/me/connections'), 400);
    const long = stack.browser('x'.repeat(129));
    expectProblem(await long.get('/me/connections'), 400);
  });

  test('an unknown path under /me is a 404 problem', async () => {
    const { b } = newUser();
    expectProblem(await b.get('/me/nothing-here'), 404);
  });
});
