// Tracing in the real process (`node main.js`): turned on by the environment alone, and the spans
// still in the batch processor exported on SIGTERM, before the process exits.
import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { killServices, serviceEnv, spawnService } from '../helpers/service.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/stack.js';
import { withinDeadline } from '../helpers/wait.js';

jest.setTimeout(120_000);

let redis: TestRedis;
let emulator: RunningEmulator;
let receiver: Server;
let receiverUrl: string;
const bodies: string[] = [];

beforeAll(async () => {
  await buildService(); // once per source state, shared by the test files (test/helpers/build.ts)
  [redis, emulator] = await Promise.all([
    startTestRedis(),
    startEmulator({ clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] }),
  ]);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await killServices();
  await emulator?.close();
  await redis?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT set, the service traces its requests and exports the last ones on SIGTERM, then exits 0', async () => {
  const port = await freePort();
  const service = await spawnService({
    ...serviceEnv({ port, redisUrl: redis.url, apiUrl: emulator.apiUrl, webviewUrl: emulator.url }),
    SHUTDOWN_DELAY_MS: '0',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  });
  expect(service.stdout()).toContain('tracing on');
  const traceId = randomBytes(16).toString('hex');
  const res = await fetch(`${service.url}/connectors`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  // Well within the batch processor's 5 s: nothing has been exported yet, the shutdown must do it.
  service.proc.kill('SIGTERM');
  const exit = await withinDeadline(service.exited, 10_000, 'the service to exit after SIGTERM');
  expect(exit).toEqual({ code: 0, signal: null });
  const exported = bodies.join('\n');
  expect(exported).toContain(traceId);
  expect(exported).toContain('GET /connectors');
  expect(exported).toContain('powens connectors.list');
});
