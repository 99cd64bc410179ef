// Graceful shutdown of the real process (docs/REFERENCE.md, "Operations"): `node main.js`, a real Redis, the
// emulator as Powens, and raw sockets to see exactly what the server does with each connection.
import { jest } from '@jest/globals';
import net from 'node:net';
import { completeWebview, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { Browser } from '../helpers/browser.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, status } from '../helpers/raw-http.js';
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

async function start(): Promise<ServiceProcess> {
  const port = await freePort();
  return spawnService({
    ...serviceEnv({ port, redisUrl: redis.url, apiUrl: emulator.apiUrl, webviewUrl: emulator.url }),
    // The slow request below takes 3 s at Powens: the call's deadline must be longer.
    POWENS_TIMEOUT_MS: '6000',
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

test('on SIGTERM the in-flight request completes, readiness turns 503 at once, new connections are refused, idle keep-alive sockets close, and the process exits 0', async () => {
  const service = await start();

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

  // The slow request: Powens takes 3 s to list the connections (a wide margin for the steps
  // below, which must all happen while it is still running).
  emulator.emulator.knobs.delay('connections.list', 3000, { times: 1 });
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
  // Signals are asynchronous: wait for the process to say it has begun draining.
  await waitFor(() => service.stdout().includes('shutting down'), {
    timeoutMs: 3000,
    intervalMs: 5,
    what: "the service to log 'shutting down' after SIGTERM",
    detail: () => service.stdout().slice(-2000),
  });

  // Readiness is 503 on the connection that was already open, while the slow request still runs.
  probe.socket.write('\r\n');
  const [ready] = await probe.responses(1);
  expect(status(ready)).toBe(503);
  expect(ready).toMatch(/shutting_down/);
  expect(ready).toMatch(/\r\nConnection: close\r\n/i);
  expect(slowDone).toBe(false);

  // The listener is closed: a new connection is refused.
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

  // Exit 0, within the 10 seconds the contract allows.
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGTERM');
  expect(exit).toEqual({ code: 0, signal: null });
  expect(service.stdout()).toMatch(/"msg":"stopped"/);
  // Quitting Redis on the way out is not reported as losing it.
  expect(service.stdout()).not.toMatch(/Redis connection lost/);
});

test('SIGINT stops an idle service with exit code 0', async () => {
  const service = await start();
  service.proc.kill('SIGINT');
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGINT');
  expect(exit).toEqual({ code: 0, signal: null });
  expect(service.stdout()).toMatch(/"signal":"SIGINT"/);
});
