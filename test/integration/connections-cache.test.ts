import { randomBytes } from 'node:crypto';
import { ConnectionsCache } from '../../src/connections/cache.js';
import type { ConnectionView } from '../../src/powens/status.js';
import { createKeys } from '../../src/storage/keys.js';
import { connectBank, connectionView, freshUser, listConnections } from '../helpers/api.js';
import type { Browser } from '../helpers/browser.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;
let second: Stack;
beforeAll(async () => {
  stack = await startStack();
  // A second instance of the service on the same Redis and Powens.
  second = await startStack({ testRedis: stack.testRedis, emulator: stack.emulator, prefix: stack.config.redis.prefix });
});
afterAll(async () => {
  await second.close();
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;
const keys = () => createKeys(stack.config.redis.prefix);

async function linkedUser(): Promise<{ userId: string; b: Browser; connectionId: number }> {
  const { userId, b } = freshUser(stack);
  return { userId, b, connectionId: await connectBank(b) };
}

async function get(url: string, userId: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${url}/me/connections`, { headers: { 'x-user-id': userId } });
  return { status: res.status, text: await res.text() };
}

describe('the connections cache', () => {
  test('a second list within the TTL is served without asking Powens, and holds no token', async () => {
    const { userId, b } = await linkedUser();
    knobs().reset();
    const first = await listConnections(b);
    const again = await listConnections(b);
    expect(again).toEqual(first);
    expect(knobs().calls('connections.list')).toBe(1);
    const cached = await stack.inspect.get(keys().connectionsCache(userId));
    expect(JSON.parse(cached ?? 'null')).toEqual(first.connections);
    const stored = await stack.built.tokens.get(userId);
    expect(cached).not.toContain(stored?.token);
    const ttl = await stack.inspect.ttl(keys().connectionsCache(userId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(stack.config.connectionsCacheTtlSeconds);
  });

  test('an entry that is not a list or null is dropped, not served', async () => {
    const { userId, b, connectionId } = await linkedUser();
    // '[...,]' has a list's brackets but is not JSON: it must be parsed, not spliced into the answer.
    for (const foreign of ['{"id":999}', 'v2:[{"id":999}]', '[{"id":999}', '[{"id":999},]', '', '"x"']) {
      await stack.inspect.set(keys().connectionsCache(userId), foreign, 'EX', 60);
      knobs().reset();
      expect((await listConnections(b)).connections.map((c) => c.id)).toEqual([connectionId]);
      expect(knobs().calls('connections.list')).toBe(1);
    }
  });

  test('a user never sees a connection they just removed', async () => {
    const { b, connectionId } = await linkedUser();
    expect((await listConnections(b)).connections.map((c) => c.id)).toEqual([connectionId]);
    const del = await b.request('DELETE', `/me/connections/${connectionId}`);
    expect(del.status).toBe(204);
    expect(await listConnections(b)).toEqual({ linked: true, connections: [] });
  });

  test('unlinking shows the user as not linked at once', async () => {
    const { b } = await linkedUser();
    await listConnections(b);
    expect((await b.request('DELETE', '/me/connections')).status).toBe(204);
    expect(await listConnections(b)).toEqual({ linked: false, connections: [] });
  });

  test('a user with no token is cached as not linked until a flow links them', async () => {
    const userId = `user-${randomBytes(6).toString('hex')}`;
    const b = stack.browser(userId, { 'x-csrf': '1' });
    expect(await listConnections(b)).toEqual({ linked: false, connections: [] });
    expect(await stack.inspect.get(keys().connectionsCache(userId))).toBe('null');
    const id = await connectBank(b);
    expect((await listConnections(b)).connections.map((c) => c.id)).toEqual([id]);
  });

  test('a completed flow refreshes the list', async () => {
    const { b, connectionId } = await linkedUser();
    await listConnections(b);
    const added = await connectBank(b);
    expect((await listConnections(b)).connections.map((c) => c.id).sort((x, y) => x - y)).toEqual([connectionId, added]);
  });

  test('50 parallel misses for one user make one Powens call', async () => {
    const { userId } = await linkedUser();
    knobs().reset();
    // Powens is slow enough for every request to arrive while the first is still waiting.
    knobs().delay('connections.list', 150);
    const answers = await Promise.all(Array.from({ length: 50 }, () => get(stack.url, userId)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(knobs().calls('connections.list')).toBe(1);
  });

  test('50 parallel misses spread over two instances make one Powens call', async () => {
    const { userId } = await linkedUser();
    knobs().reset();
    knobs().delay('connections.list', 150);
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => get(i % 2 === 0 ? stack.url : second.url, userId)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(knobs().calls('connections.list')).toBe(1);
  });

  test('when the instance holding the fill lock dies, a waiting request fills the cache itself', async () => {
    const { userId, b } = await linkedUser();
    // Another instance took the lock and died: nobody will fill the cache or free the lock.
    await stack.inspect.set(keys().connectionsLock(userId), 'dead-instance', 'PX', 300);
    knobs().reset();
    const body = await listConnections(b);
    expect(body.linked).toBe(true);
    expect(knobs().calls('connections.list')).toBe(1);
    expect(await stack.inspect.get(keys().connectionsCache(userId))).not.toBeNull();
  });

  test('a Powens failure reaches every waiting request, is kept a few seconds without a second Powens call, and is not cached', async () => {
    const { userId, b } = await linkedUser();
    knobs().reset();
    knobs().delay('connections.list', 100, { times: 1 });
    knobs().fail('connections.list', { status: 503, times: 2 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(stack.url, userId)));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([502]));
    expect(await stack.inspect.get(keys().connectionsCache(userId))).toBeNull();
    expect(await stack.inspect.get(keys().connectionsLock(userId))).toBeNull();
    // One call and its retry; the failure, not a secret, is kept for the requests that follow.
    expect(knobs().calls('connections.list')).toBe(2);
    expect(await stack.inspect.get(keys().connectionsFailure(userId))).toBe('POWENS_UNAVAILABLE');
    expect((await get(second.url, userId)).status).toBe(502);
    expect(knobs().calls('connections.list')).toBe(2);
    // Once it expires, the next request asks Powens again.
    await waitFor(async () => (await get(stack.url, userId)).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 250,
      what: `the list of ${userId} to be served again`,
    });
    expect((await listConnections(b)).linked).toBe(true);
  });

  test('a change drops a kept failure: the next list asks Powens at once', async () => {
    const { userId, b } = await linkedUser();
    knobs().fail('connections.list', { status: 503, times: 2 });
    expect((await get(stack.url, userId)).status).toBe(502);
    expect(await stack.inspect.get(keys().connectionsFailure(userId))).not.toBeNull();
    await connectBank(b);
    expect((await listConnections(b)).connections).toHaveLength(2);
  });
});

describe('CONNECTIONS_CACHE_TTL_SECONDS=0', () => {
  test('turns the cache off: every list asks Powens', async () => {
    const uncached = await startStack({
      testRedis: stack.testRedis,
      emulator: stack.emulator,
      prefix: stack.config.redis.prefix,
      env: { CONNECTIONS_CACHE_TTL_SECONDS: '0' },
    });
    try {
      const { userId } = await linkedUser();
      knobs().reset();
      await get(uncached.url, userId);
      await get(uncached.url, userId);
      expect(knobs().calls('connections.list')).toBe(2);
      expect(await stack.inspect.get(keys().connectionsCache(userId))).toBeNull();
    } finally {
      await uncached.close();
    }
  });
});

describe('ConnectionsCache', () => {
  test('an answer read before an invalidation is never stored after it', async () => {
    const cache = new ConnectionsCache(stack.redis, keys(), { ttlSeconds: 60, lockMs: 2000 });
    const userId = `user-${randomBytes(6).toString('hex')}`;
    let release: (v: ConnectionView[]) => void = () => undefined;
    const slow = new Promise<ConnectionView[]>((resolve) => {
      release = resolve;
    });
    const first = cache.get(userId, () => slow);
    // Let the fill take its lock, then the connection is deleted and the cache invalidated.
    await waitFor(async () => (await stack.inspect.get(keys().connectionsLock(userId))) !== null, {
      timeoutMs: 2000,
      intervalMs: 5,
      what: `the cache fill for ${userId} to take its lock`,
    });
    await cache.invalidate(userId);
    release([connectionView(1)]);
    expect(await first).toEqual([connectionView(1)]);
    let loads = 0;
    const next = await cache.get(userId, () => {
      loads += 1;
      return Promise.resolve([]);
    });
    expect(next).toEqual([]);
    expect(loads).toBe(1);
  });
});
