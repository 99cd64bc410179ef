// Rate limits (README "Configuration", docs/REFERENCE.md "Operations"): per IP and per user, counted in Redis, on the flow
// routes and the API; 429 with Retry-After; the client IP as TRUST_PROXY says.
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { startStack, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type Stack } from '../helpers/stack.js';

let redis: TestRedis;
let emulator: RunningEmulator;
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, emulator] = await Promise.all([
    startTestRedis(),
    startEmulator({ clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] }),
  ]);
});
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  await emulator.close();
  await redis.close();
});

/** A service on the shared Redis and emulator, with its own prefix (so its own counters). */
async function service(env: Record<string, string>): Promise<Stack> {
  const stack = await startStack({ testRedis: redis, emulator, env });
  stacks.push(stack);
  return stack;
}

async function get(stack: Stack, path: string, headers: Record<string, string>): Promise<Response> {
  const res = await fetch(`${stack.url}${path}`, { headers, redirect: 'manual' });
  await res.arrayBuffer();
  return res;
}

test('past RATE_LIMIT_PER_IP requests a minute from one address, the API answers 429 problem+json with Retry-After', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '3', RATE_LIMIT_PER_USER: '0' });
  // Different users, one address: the per-IP limit counts them together.
  for (const user of ['u1', 'u2', 'u3']) expect((await get(stack, '/me/connections', { 'x-user-id': user })).status).toBe(200);
  const res = await fetch(`${stack.url}/me/connections`, { headers: { 'x-user-id': 'u4' } });
  expect(res.status).toBe(429);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(await res.json()).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  // The counters live in Redis under the service's prefix.
  expect([...(await stack.dump()).keys()].some((k) => k.startsWith(`${stack.config.redis.prefix}rl:ip:`))).toBe(true);
});

test('the flow routes share the per-IP limit and answer 429 as a page', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '2', RATE_LIMIT_PER_USER: '0' });
  const headers = { 'x-user-id': 'flow-user', accept: 'text/html' };
  expect((await get(stack, '/connect', headers)).status).toBe(302);
  expect((await get(stack, '/me/connections', headers)).status).toBe(200);
  for (const path of ['/connect', '/reconnect/1', '/manage', '/callback?state=x&code=y']) {
    const res = await fetch(`${stack.url}${path}`, { headers, redirect: 'manual' });
    expect({ path, status: res.status }).toEqual({ path, status: 429 });
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.text()).toMatch(/Too many requests/);
  }
  // Operations routes are not limited.
  expect((await get(stack, '/healthz', headers)).status).toBe(200);
  expect((await get(stack, '/readyz', headers)).status).toBe(200);
});

test('without TRUST_PROXY, X-Forwarded-For is ignored: a client cannot claim a new address per request', async () => {
  // jwt mode (header mode needs TRUST_PROXY); no token: each request is a 401, counted all the same.
  const stack = await service({
    AUTH_MODE: 'jwt',
    AUTH_JWT_SECRET: 'rate-limit-test-jwt-secret-0123456789',
    TRUST_PROXY: 'false',
    RATE_LIMIT_PER_IP: '3',
    RATE_LIMIT_PER_USER: '0',
  });
  const statuses: number[] = [];
  for (let i = 1; i <= 4; i += 1) {
    statuses.push((await get(stack, '/me/connections', { 'x-forwarded-for': `203.0.113.${i}` })).status);
  }
  expect(statuses).toEqual([401, 401, 401, 429]);
});

test('with TRUST_PROXY naming the proxy, the address the proxy saw (X-Forwarded-For) is the one limited', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '3', RATE_LIMIT_PER_USER: '0', TRUST_PROXY: 'loopback' });
  // Four clients behind the proxy: each has its own count.
  for (let i = 1; i <= 4; i += 1) {
    expect((await get(stack, '/me/connections', { 'x-user-id': `p${i}`, 'x-forwarded-for': `198.51.100.${i}` })).status).toBe(200);
  }
  // One of them goes on; the hop before the proxy (spoofable by the client) does not matter.
  const statuses: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    statuses.push((await get(stack, '/me/connections', { 'x-user-id': 'p1', 'x-forwarded-for': `10.9.9.${i}, 198.51.100.1` })).status);
  }
  expect(statuses).toEqual([200, 200, 429]);
});

test('the per-user limit follows the user across addresses, and other users are not affected', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '2', TRUST_PROXY: 'loopback' });
  const as = (user: string, ip: string): Promise<Response> => get(stack, '/me/connections', { 'x-user-id': user, 'x-forwarded-for': ip });
  expect((await as('roaming', '192.0.2.1')).status).toBe(200);
  expect((await as('roaming', '192.0.2.2')).status).toBe(200);
  const limited = await fetch(`${stack.url}/me/connections`, { headers: { 'x-user-id': 'roaming', 'x-forwarded-for': '192.0.2.3' } });
  expect(limited.status).toBe(429);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  // The flow routes count for the same user too.
  expect((await get(stack, '/connect', { 'x-user-id': 'roaming', 'x-forwarded-for': '192.0.2.4' })).status).toBe(429);
  // Another user from the very same address is fine.
  expect((await as('neighbour', '192.0.2.3')).status).toBe(200);
});

test('a request without a user is not counted per user; it gets its usual 401', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '1' });
  for (let i = 0; i < 3; i += 1) expect((await get(stack, '/me/connections', {})).status).toBe(401);
});

test('a limit of 0 turns it off', async () => {
  const stack = await service({ RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' });
  for (let i = 0; i < 30; i += 1) expect((await get(stack, '/me/connections', { 'x-user-id': 'busy' })).status).toBe(200);
  expect([...(await stack.dump()).keys()].filter((k) => k.includes(':rl:'))).toEqual([]);
});

test('instances share the counts: two services on one Redis and prefix limit a user together', async () => {
  const env = { RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '2', REDIS_PREFIX: 'shared-rl:' };
  const a = await service(env);
  const b = await service(env);
  expect((await get(a, '/me/connections', { 'x-user-id': 'both' })).status).toBe(200);
  expect((await get(b, '/me/connections', { 'x-user-id': 'both' })).status).toBe(200);
  expect((await get(a, '/me/connections', { 'x-user-id': 'both' })).status).toBe(429);
  expect((await get(b, '/me/connections', { 'x-user-id': 'both' })).status).toBe(429);
});
