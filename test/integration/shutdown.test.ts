// Graceful shutdown of the real process (docs/REFERENCE.md, "Operations"): `node main.js`, a real Redis, the
// emulator as Powens, and raw sockets to see exactly what the server does with each connection.
import { jest } from '@jest/globals';
import net from 'node:net';
import { completeWebview, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { Browser } from '../helpers/browser.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, status, type RawConnection } from '../helpers/raw-http.js';
import { killServices, serviceEnv, spawnService, type ServiceProcess } from '../helpers/service.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/stack.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

jest.setTimeout(120_000);

let redis: TestRedis;
let emulator: RunningEmulator;

beforeAll(async () => {
  await buildService(); // once per source state, shared by the test files (test/helpers/build.ts)
  [redis, emulator] = await Promise.all([
    startTestRedis(),
    startEmulator({ clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] }),
  ]);
});

afterAll(async () => {
  await killServices();
  await emulator?.close();
  await redis?.close();
});

async function start(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnService({
    ...serviceEnv({ port, redisUrl: redis.url, apiUrl: emulator.apiUrl, webviewUrl: emulator.url }),
    // The slow request below takes 6 s at Powens: the call's deadline must be longer.
    POWENS_TIMEOUT_MS: '8000',
    ...env,
  });
}

async function refused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

/** Waits for `text` in the service's output (a step of the shutdown it logs), failing by name after 10 s. */
async function logged(service: ServiceProcess, text: string): Promise<void> {
  await waitFor(() => service.stdout().includes(text), {
    timeoutMs: 10_000,
    intervalMs: 5,
    what: `the service to log "${text}"`,
    detail: () => service.stdout().slice(-2000),
  });
}

test('on SIGTERM readiness turns 503 while the listener still serves for SHUTDOWN_DELAY_MS, then new connections are refused, idle sockets close, the in-flight request completes, and the process exits 0', async () => {
  // 3 s of delay, then up to 6 s of drain: within the 9 s the configuration allows.
  const service = await start({ SHUTDOWN_DELAY_MS: '3000', SHUTDOWN_TIMEOUT_MS: '6000' });

  // A user with a Powens token, so that /me/connections calls Powens (no cache: TTL 0).
  const user = new Browser(service.url, { 'x-user-id': 'shutdown-user' });
  const webview = await user.get('/connect');
  const back = await completeWebview(webview.location ?? '', { kind: 'connect' });
  expect((await user.get(back.href)).status).toBe(303);

  // An idle keep-alive connection: one request answered, then nothing.
  const idle = await connect(service.port);
  idle.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  expect(status((await idle.responses(1))[0])).toBe(200);

  // A connection with a request under way: only part of its head has arrived when SIGTERM does.
  const probe = await connect(service.port);
  probe.socket.write('GET /readyz HTTP/1.1\r\nHost: test\r\n');

  // The slow request: Powens takes 6 s to list the connections (a wide margin for the steps
  // below, which must all happen while it is still running).
  emulator.emulator.knobs.delay('connections.list', 6000, { times: 1 });
  const callsBefore = emulator.emulator.knobs.calls('connections.list');
  const slow = await connect(service.port);
  slow.socket.write('GET /me/connections HTTP/1.1\r\nHost: test\r\nx-user-id: shutdown-user\r\n\r\n');
  const slowAnswer = slow.responses(1);
  let slowDone = false;
  void slowAnswer.then(
    () => (slowDone = true),
    () => undefined,
  );
  await waitFor(() => emulator.emulator.knobs.calls('connections.list') !== callsBefore, {
    timeoutMs: 5000,
    intervalMs: 10,
    what: 'the slow /me/connections to reach Powens',
  });

  service.proc.kill('SIGTERM');
  // Signals are asynchronous: wait for the process to say it has begun.
  await logged(service, 'shutting down');

  // During the delay: readiness is 503 on the connection that was already open...
  probe.socket.write('\r\n');
  const [ready] = await probe.responses(1);
  expect(status(ready)).toBe(503);
  expect(ready).toMatch(/shutting_down/);
  expect(ready).toMatch(/\r\nConnection: close\r\n/i);
  // ...and a new connection is still accepted and answered, so a load balancer's check sees the 503.
  const checker = await connect(service.port);
  checker.socket.write('GET /readyz HTTP/1.1\r\nHost: lb\r\n\r\n');
  expect(status((await checker.responses(1))[0])).toBe(503);
  expect(service.stdout()).not.toContain('stopped accepting connections');
  expect(slowDone).toBe(false);

  // After the delay the listener is closed: a new connection is refused.
  await logged(service, 'stopped accepting connections');
  expect(await refused(service.port)).toBe('ECONNREFUSED');

  // The idle keep-alive socket is closed by the server, without waiting for the slow request.
  await withinDeadline(idle.closed, 3000, 'the server to close the idle keep-alive socket');
  expect(slowDone).toBe(false);

  // The in-flight request completes normally, and its connection is closed after it.
  const [answer] = await slowAnswer;
  expect(status(answer)).toBe(200);
  expect(answer).toMatch(/\r\nConnection: close\r\n/i);
  expect(JSON.parse(answer?.slice(answer.indexOf('\r\n\r\n') + 4) ?? '')).toMatchObject({ linked: true });
  await withinDeadline(slow.closed, 5000, 'the server to close the connection of the completed slow request');

  // Exit 0, within the 10 seconds promised, without cutting any request off.
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGTERM');
  expect(exit).toEqual({ code: 0, signal: null });
  expect(service.stdout()).toMatch(/"msg":"stopped"/);
  expect(service.stdout()).not.toMatch(/shutdown timeout/);
  // Quitting Redis on the way out is not reported as losing it.
  expect(service.stdout()).not.toMatch(/Redis connection lost/);
});

test('half-open and silent clients do not hold the exit: they are closed when the listener closes, not at the drain deadline', async () => {
  const service = await start({ SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '9000' });
  // Connected and silent; connected with half a request head; a complete request would be served.
  const silent = await connect(service.port);
  const halfOpen = await connect(service.port);
  halfOpen.socket.write('GET /me/connections HTTP/1.1\r\nHost: test\r\nx-user-id: slow');
  // The half head has reached the server once a later connection is answered.
  const later = await connect(service.port);
  later.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
  expect(status((await later.responses(1))[0])).toBe(200);

  service.proc.kill('SIGTERM');
  await withinDeadline(Promise.all([silent.closed, halfOpen.closed]), 10_000, 'the server to close the silent and the half-open sockets after SIGTERM');
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGTERM');
  expect(exit).toEqual({ code: 0, signal: null });
  expect(service.stdout()).toMatch(/"inFlight":0,"msg":"stopped accepting connections/);
  // Nothing was left for the deadline to cut.
  expect(service.stdout()).not.toMatch(/shutdown timeout/);
  expect(halfOpen.received()).toBe('');
});

test('a client that sends no complete request head within HEADERS_TIMEOUT_MS gets a 408 and is let go', async () => {
  const service = await start({ HEADERS_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '2000' });
  const silent = await connect(service.port);
  const slowHead = await connect(service.port);
  slowHead.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n');
  await withinDeadline(Promise.all([silent.closed, slowHead.closed]), 20_000, 'the server to close the silent and the slow-head sockets');
  expect(status(slowHead.received())).toBe(408);
  expect(service.running()).toBe(true);
  // An idle keep-alive socket is not concerned: the headers clock starts with a request's first byte.
  const keptAlive = await connect(service.port);
  keptAlive.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  await keptAlive.responses(1);
  // Longer than HEADERS_TIMEOUT_MS plus Node's check interval, idle: still open, and it serves.
  await new Promise((r) => setTimeout(r, 2500));
  keptAlive.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
  expect((await keptAlive.responses(2)).map(status)).toEqual([200, 200]);
  keptAlive.socket.destroy();
});

test('past MAX_CONNECTIONS a new connection is closed at once; once one closes, a new one is served', async () => {
  const service = await start({ MAX_CONNECTIONS: '3' });
  // The readiness check of the start-up may still hold a keep-alive connection: open ours until
  // one is refused, so the cap is met whatever that one does.
  const open: RawConnection[] = [];
  let refusedOne: RawConnection | undefined;
  while (refusedOne === undefined && open.length < 10) {
    const c = await connect(service.port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
    const answered = await c.responses(1).then(
      () => true,
      () => false,
    );
    if (answered) open.push(c);
    else refusedOne = c;
  }
  expect(refusedOne?.received()).toBe('');
  expect(open.length).toBeGreaterThanOrEqual(2);
  expect(open.length).toBeLessThanOrEqual(3);

  open[0]?.socket.destroy();
  await withinDeadline(Promise.resolve(open[0]?.closed), 5000, 'the first capped connection to close');
  // The server counts the closed connection out asynchronously: try a few times, by a deadline.
  let served = 0;
  await waitFor(
    async () => {
      const next = await connect(service.port);
      next.socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
      served = await next.responses(1).then(
        (r) => status(r[0]),
        () => 0,
      );
      return served === 200;
    },
    { timeoutMs: 10_000, what: 'a new connection to be served (200) once one of the capped ones closed', detail: () => `last answer: ${served || 'none'}` },
  );
  expect(served).toBe(200);
  for (const c of open) c.socket.destroy();
});

test('SIGINT stops an idle service with exit code 0', async () => {
  const service = await start();
  service.proc.kill('SIGINT');
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGINT');
  expect(exit).toEqual({ code: 0, signal: null });
  expect(service.stdout()).toMatch(/"signal":"SIGINT"/);
});
