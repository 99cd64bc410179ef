// Redis faults (docs/REFERENCE.md, "Operations"): the test's own redis-server is stopped, paused and
// restarted under the running service. Every request that needs Redis answers 503 fast, the
// service stays up, and it recovers by itself. An unhandled promise rejection in this process
// fails the running test (jest-circus reports it as the test's error), so the in-process cases
// also check that none goes unhandled; the real-process case checks the service's own log.
import { jest } from '@jest/globals';
import { Browser, type Hop } from '../helpers/browser.js';
import { connectBank } from '../helpers/api.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, status } from '../helpers/raw-http.js';
import { killServices, serviceEnv, spawnService, within } from '../helpers/service.js';
import { startStack, type Stack } from '../helpers/stack.js';

jest.setTimeout(60_000);

/** The fail-fast bound of the contract: a request that has no answer by then is a hang. */
const FAST_MS = 2000;

/** One request through the browser's cookie jar, as `userId`, that must be answered within FAST_MS. */
async function fast(b: Browser, userId: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Hop> {
  const url = new URL(path, b.base).href;
  const res = await fetch(url, {
    method,
    headers: { 'x-user-id': userId, ...headers, ...(b.cookies.size > 0 ? { cookie: b.cookieHeader() } : {}) },
    redirect: 'manual',
    signal: AbortSignal.timeout(FAST_MS),
  }).catch((err: unknown) => {
    throw new Error(`${method} ${path}: ${String(err)} (${String(err instanceof Error ? err.cause : '')})`);
  });
  return { status: res.status, location: res.headers.get('location') ?? undefined, headers: res.headers, text: await res.text(), url };
}

async function waitUntilReady(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(FAST_MS) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the service did not become ready again');
}

/** Every kind of request that needs Redis, as a browser or a frontend would send it. */
async function expectAllUnavailable(b: Browser, userId: string): Promise<void> {
  const page = async (path: string): Promise<void> => {
    const hop = await fast(b, userId, 'GET', path, { accept: 'text/html' });
    expect({ path, status: hop.status }).toEqual({ path, status: 503 });
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
    expect(hop.headers.get('retry-after')).toMatch(/^\d+$/);
  };
  const problem = async (method: string, path: string): Promise<void> => {
    const hop = await fast(b, userId, method, path, method === 'GET' ? {} : { 'x-csrf': '1' });
    expect({ method, path, status: hop.status }).toEqual({ method, path, status: 503 });
    expect(hop.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(hop.text)).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE' });
  };
  await page('/connect');
  await page('/reconnect/1');
  await page('/manage');
  await page('/callback?state=abc&code=def');
  await problem('GET', '/me/connections');
  await problem('DELETE', '/me/connections/1');
  await problem('DELETE', '/me/connections');
  expect((await fast(b, userId, 'GET', '/readyz')).status).toBe(503);
  expect((await fast(b, userId, 'GET', '/healthz')).status).toBe(200);
}

describe('in process', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Rate limits on: the limiter, too, must fail fast (closed) when Redis is away.
    stack = await startStack({ env: { RATE_LIMIT_PER_IP: '1000', RATE_LIMIT_PER_USER: '1000', CONNECTIONS_CACHE_TTL_SECONDS: '0' } });
  });
  afterAll(async () => {
    stack.testRedis.resume();
    await stack.close();
  });

  test('with Redis stopped every request that needs it is a fast 503, readiness is 503, liveness 200; once Redis is back the service works again without a restart', async () => {
    const alice = stack.browser('alice');
    await connectBank(alice);

    await stack.testRedis.stop();
    await expectAllUnavailable(alice, 'alice');
    // Twice: the answers stay fast while ioredis keeps trying to reconnect.
    await expectAllUnavailable(alice, 'alice');

    await stack.testRedis.start();
    await waitUntilReady(stack.url);
    // The data did not survive (the test's Redis keeps nothing on disk): link again, list.
    await connectBank(alice);
    const list = await alice.get('/me/connections');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text)).toMatchObject({ linked: true });
  });

  test('a Redis that accepts connections but does not answer (paused) gives 503 after the command timeout, not a hang', async () => {
    const bob = stack.browser('bob');
    await connectBank(bob);
    const before = await stack.built.metrics.registry.getSingleMetricAsString('redis_errors_total');

    stack.testRedis.pause();
    try {
      const list = await fast(bob, 'bob', 'GET', '/me/connections');
      expect(list.status).toBe(503);
      expect(JSON.parse(list.text)).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const page = await fast(bob, 'bob', 'GET', '/connect', { accept: 'text/html' });
      expect(page.status).toBe(503);
      expect((await fast(bob, 'bob', 'GET', '/readyz')).status).toBe(503);
    } finally {
      stack.testRedis.resume();
    }
    await waitUntilReady(stack.url);
    expect((await bob.get('/me/connections')).status).toBe(200);
    // The failures were counted as Redis command errors.
    const after = await stack.built.metrics.registry.getSingleMetricAsString('redis_errors_total');
    expect(commandErrors(after)).toBeGreaterThan(commandErrors(before));
  });
});

function commandErrors(text: string): number {
  return Number(/redis_errors_total\{kind="command"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('the real process', () => {
  let redis: TestRedis;
  let stack: Stack;
  beforeAll(async () => {
    await buildService(); // once per source state, shared by the test files (test/helpers/build.ts)
    redis = await startTestRedis();
    // Only for its emulator: the service below is a process of its own on the same Redis.
    stack = await startStack({ testRedis: redis });
  });
  afterAll(async () => {
    await killServices();
    await stack.close();
    await redis.close();
  });

  test('survives a Redis outage: 503s while Redis is down, no crash, no unhandled rejection, back to work when Redis returns', async () => {
    const port = await freePort();
    const service = await spawnService(serviceEnv({ port, redisUrl: redis.url, apiUrl: stack.emulator.apiUrl, webviewUrl: stack.emulator.url }));
    const carol = new Browser(service.url, { 'x-user-id': 'carol' });
    await connectBank(carol);

    await redis.stop();
    await expectAllUnavailable(carol, 'carol');
    // A 503 leaves the keep-alive connection usable: three requests with the session cookie
    // (whose session cannot be loaded) on one socket, three answers, and the socket stays open.
    const socket = await connect(service.port);
    for (const path of ['/connect', '/manage', '/me/connections']) {
      socket.socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nx-user-id: carol\r\ncookie: ${carol.cookieHeader()}\r\n\r\n`);
    }
    const answers = await socket.responses(3);
    expect(answers.map(status)).toEqual([503, 503, 503]);
    expect(socket.socket.destroyed).toBe(false);
    socket.socket.end();
    expect(service.running()).toBe(true);

    await redis.start();
    await waitUntilReady(service.url);
    await connectBank(carol);
    expect((await carol.get('/me/connections')).status).toBe(200);
    expect(service.running()).toBe(true);
    expect(service.stdout()).not.toMatch(/unhandled promise rejection/);
    expect(service.stdout()).toMatch(/"msg":"Redis connection lost[^"]*"/);
    expect(service.stdout()).toMatch(/"msg":"Redis ready"/);
  });

  test('an unreachable Redis at start-up is one clear line naming host:port, exit code 1', async () => {
    const port = await freePort();
    const closedPort = await freePort();
    const service = await spawnService(
      {
        ...serviceEnv({ port, redisUrl: `redis://127.0.0.1:${closedPort}`, apiUrl: stack.emulator.apiUrl, webviewUrl: stack.emulator.url }),
        REDIS_STARTUP_TIMEOUT_MS: '500',
      },
      { waitReady: false },
    );
    expect(await within(service.exited, 15_000)).toEqual({ code: 1, signal: null });
    const lines = service.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`127.0.0.1:${closedPort}`);
    expect(lines[0]).toMatch(/not reachable/);
    expect(service.stderr()).not.toMatch(/\n\s+at /);
  });

  test('a Redis that refuses the password is reported with host:port and without the password, exit code 1', async () => {
    const guarded = await startTestRedis({ password: 'the-right-password' });
    try {
      const port = await freePort();
      const wrong = 'a-wrong-password-4242';
      const service = await spawnService(
        serviceEnv({ port, redisUrl: `redis://:${wrong}@127.0.0.1:${guarded.port}`, apiUrl: stack.emulator.apiUrl, webviewUrl: stack.emulator.url }),
        { waitReady: false },
      );
      expect(await within(service.exited, 15_000)).toEqual({ code: 1, signal: null });
      const lines = service.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`127.0.0.1:${guarded.port}`);
      expect(lines[0]).toMatch(/WRONGPASS/);
      expect(service.stderr() + service.stdout()).not.toContain(wrong);
      expect(service.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      await guarded.close();
    }
  });
});
