// AUTH_MODE=header believes AUTH_HEADER only from the proxies TRUST_PROXY lists (docs/REFERENCE.md,
// "Who the user is"). Real sockets: the proxy is 127.0.0.1, another client on the same machine
// binds 127.0.0.2, and sends the header the proxy would set.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import http from 'node:http';
import { untrustedPeerWarner } from '../../src/auth/user.js';
import { completeWebview } from '../../emulator/index.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

const PROXY = '127.0.0.1';
const OTHER = '127.0.0.2';

let stack: Stack;
let aliceConnection: number;

beforeAll(async () => {
  stack = await startStack({ env: { TRUST_PROXY: PROXY } });
  // Alice links her bank through the proxy.
  const alice = stack.browser('alice');
  const back = await completeWebview(await startConnect(alice), { kind: 'connect' });
  const cb = await alice.get(`${back.pathname}${back.search}`);
  expect(cb.status).toBe(303);
  aliceConnection = Number(new URL(cb.location ?? '', stack.url).searchParams.get('connection_id'));
});
afterAll(async () => {
  await stack.close();
});

/** One request over a socket bound to `from`; answers the status and body. */
function request(from: string, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const warnings = (): Record<string, unknown>[] =>
  stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('identity header ignored'));

test('from the proxy the header is the user: alice sees her connection', async () => {
  const res = await request(PROXY, 'GET', '/me/connections', { 'x-user-id': 'alice' });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toMatchObject({ linked: true, connections: [{ id: aliceConnection }] });
});

test("from any other peer the header is ignored: no user, so alice's connections can be neither listed nor deleted", async () => {
  const asAlice = { 'x-user-id': 'alice', 'x-csrf': '1' };
  const attempts = [
    await request(OTHER, 'GET', '/me/connections', asAlice),
    await request(OTHER, 'DELETE', `/me/connections/${aliceConnection}`, asAlice),
    await request(OTHER, 'DELETE', '/me/connections', asAlice),
    await request(OTHER, 'GET', '/connect', { ...asAlice, accept: 'text/html' }),
  ];
  expect(attempts.map((a) => a.status)).toEqual([401, 401, 401, 401]);
  expect(JSON.parse(attempts[0]?.body ?? '{}')).toMatchObject({ code: 'USER_REQUIRED' });
  // A repeated header would be a 400 from the proxy; from another peer it is not even read.
  expect((await request(OTHER, 'GET', '/me/connections', { 'x-user-id': ['alice', 'bob'] as unknown as string })).status).toBe(401);

  // Nothing changed: alice's token is stored, her Powens user and connection are there.
  const keys = [...(await stack.dump()).keys()];
  expect(keys.filter((k) => k.startsWith(`${stack.config.redis.prefix}token:`))).toHaveLength(1);
  expect(stack.emulator.emulator.state.connection(aliceConnection)).toBeDefined();
  expect((await request(PROXY, 'GET', '/me/connections', { 'x-user-id': 'alice' })).status).toBe(200);
});

test('the operator is told once per peer and minute, with the peer and the header name but not the claimed id', async () => {
  const mine = warnings().filter((w) => w.peer === OTHER);
  expect(mine).toHaveLength(1);
  expect(mine[0]).toMatchObject({ level: 'warn', header: 'x-user-id' });
  expect(JSON.stringify(mine[0])).not.toContain('alice');
  // A request from that peer without the header is simply anonymous: no warning.
  expect((await request(OTHER, 'GET', '/me/connections', {})).status).toBe(401);
  expect(warnings().filter((w) => w.peer === OTHER)).toHaveLength(1);
  expect(warnings().filter((w) => w.peer === PROXY)).toHaveLength(0);
});

test('the warning memory is bounded: a flood of peers keeps at most 1,000, and a peer is warned again after a minute', () => {
  let now = 0;
  const warner = untrustedPeerWarner(() => now);
  for (let i = 0; i < 5000; i += 1) expect(warner.shouldWarn(`10.0.${i >> 8}.${i & 255}`)).toBe(true);
  expect(warner.size()).toBeLessThanOrEqual(1000);
  expect(warner.shouldWarn('10.0.19.135')).toBe(false); // the last one, warned just now
  now += 59_999;
  expect(warner.shouldWarn('10.0.19.135')).toBe(false);
  now += 1;
  expect(warner.shouldWarn('10.0.19.135')).toBe(true);
  // Entries a minute old are dropped as new peers come.
  warner.shouldWarn('192.0.2.1');
  expect(warner.size()).toBeLessThanOrEqual(2);
});
