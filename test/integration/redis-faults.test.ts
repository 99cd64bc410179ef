// Redis faults (docs/REFERENCE.md, "Operations"): the test's own redis-server is stopped, paused and
// restarted under the running service. Every request that needs Redis answers 503 fast, the
// service stays up, and it recovers by itself. An unhandled promise rejection in this process
// fails the running test (jest-circus reports it as the test's error), so the in-process cases
// also check that none goes unhandled; the real-process case checks the service's own log.
import { jest } from '@jest/globals';
import { Browser } from '../helpers/browser.js';
import { connectBank } from '../helpers/api.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, status } from '../helpers/raw-http.js';
import { killServices, serviceEnv, spawnService, waitUntilReady } from '../helpers/service.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { withinDeadline } from '../helpers/wait.js';

jest.setTimeout(60_000);

/**
 * The deadline of a request while Redis is down or paused: the service answers 503 within
 * REDIS_COMMAND_TIMEOUT_MS, so a request with no answer by then is a hang.
 */
const DEADLINE_WHILE_REDIS_DOWN_MS = 2000;

/** Every kind of request that needs Redis, as a browser or a frontend would send it. */
async function expectAllUnavailable(b: Browser): Promise<void> {
  const page = async (path: string): Promise<void> => {
    const hop = await b.request('GET', path, { headers: { accept: 'text/html' }, deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS });
    expect({ path, status: hop.status }).toEqual({ path, status: 503 });
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
    expect(hop.headers.get('retry-after')).toMatch(/^\d+$/);
  };
  const problem = async (method: string, path: string): Promise<void> => {
    const hop = await b.request(method, path, { headers: method === 'GET' ? {} : { 'x-csrf': '1' }, deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS });
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
  expect((await b.request('GET', '/readyz', { deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS })).status).toBe(503);
  expect((await b.request('GET', '/healthz', { deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS })).status).toBe(200);
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
    await expectAllUnavailable(alice);
    // Twice: the answers stay fast while ioredis keeps trying to reconnect.
    await expectAllUnavailable(alice);

    await stack.testRedis.start();
    await waitUntilReady(stack.url, { what: 'the service to be ready again once Redis is back' });
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
      const list = await bob.request('GET', '/me/connections', { deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS });
      expect(list.status).toBe(503);
      expect(JSON.parse(list.text)).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const page = await bob.request('GET', '/connect', { headers: { accept: 'text/html' }, deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS });
      expect(page.status).toBe(503);
      expect((await bob.request('GET', '/readyz', { deadlineMs: DEADLINE_WHILE_REDIS_DOWN_MS })).status).toBe(503);
    } finally {
      stack.testRedis.resume();
    }
    await waitUntilReady(stack.url, { what: 'the service to be ready again once Redis is back' });
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
    await expectAllUnavailable(carol);
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
    await waitUntilReady(service.url, { what: 'the service to be ready again once Redis is back' });
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
    expect(await withinDeadline(service.exited, 15_000, 'the service to exit')).toEqual({ code: 1, signal: null });
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
      expect(await withinDeadline(service.exited, 15_000, 'the service to exit')).toEqual({ code: 1, signal: null });
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
