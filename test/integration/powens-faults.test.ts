// Powens faults (docs/REFERENCE.md, "Operations"): a Powens that hangs or fails is a 502 page or problem
// within the configured timeout, GET calls are retried a bounded number of times with backoff,
// other calls never, and the connections to Powens are kept alive.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { completeWebview } from '../../emulator/index.js';
import { PowensClient } from '../../src/powens/client.js';
import { connectBank } from '../helpers/api.js';
import type { Hop } from '../helpers/browser.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;

beforeAll(async () => {
  // No connections cache: every /me/connections goes to Powens.
  stack = await startStack({ env: { POWENS_TIMEOUT_MS: '400', POWENS_RETRIES: '1', CONNECTIONS_CACHE_TTL_SECONDS: '0' } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = (): Stack['emulator']['emulator']['knobs'] => stack.emulator.emulator.knobs;

/**
 * The longest a call to Powens may take: every attempt up to the timeout, plus the backoff
 * between attempts (at most 1 s each), plus a margin for the test machine.
 */
function worstCaseMs(): number {
  const { timeoutMs, retries } = stack.config.powens;
  return timeoutMs * (retries + 1) + 1000 * retries + 1500;
}

function expectPage(hop: Hop, status: number): void {
  expect({ status: hop.status, type: hop.headers.get('content-type') }).toEqual({ status, type: expect.stringMatching(/^text\/html/) as unknown as string });
}

function expectProblem(hop: Hop, status: number, code: string): void {
  expect({ status: hop.status, type: hop.headers.get('content-type') }).toEqual({
    status,
    type: expect.stringMatching(/^application\/problem\+json/) as unknown as string,
  });
  expect(JSON.parse(hop.text)).toMatchObject({ status, code });
}

describe('a hanging Powens', () => {
  test('/connect for a returning user is a 502 page once the temporary code call reaches its deadline, without a retry past it', async () => {
    const hana = stack.browser('hana');
    await connectBank(hana);
    knobs().hang('token.code');
    const calls = knobs().calls('token.code');
    expectPage(await hana.request('GET', '/connect', { deadlineMs: worstCaseMs() }), 502);
    // POWENS_TIMEOUT_MS bounds the whole call: the hanging attempt uses it all, none follows.
    expect(knobs().calls('token.code') - calls).toBe(1);
  });

  test('/callback is a 502 page once the code exchange (a POST, tried once) times out', async () => {
    const ivan = stack.browser('ivan');
    const back = await completeWebview(await startConnect(ivan), { kind: 'connect' });
    knobs().hang('token.access');
    const calls = knobs().calls('token.access');
    const hop = await ivan.request('GET', back.href.slice(back.origin.length), { deadlineMs: worstCaseMs() });
    expectPage(hop, 502);
    expect(knobs().calls('token.access') - calls).toBe(1);
    // The page leads back to the start of the flow.
    expect(hop.text).toContain('href="/connect"');
  });

  test('/me/connections is a 502 problem once the list call reaches its deadline, without a retry past it', async () => {
    const jane = stack.browser('jane');
    await connectBank(jane);
    knobs().hang('connections.list');
    const calls = knobs().calls('connections.list');
    expectProblem(await jane.request('GET', '/me/connections', { deadlineMs: worstCaseMs() }), 502, 'POWENS_UNAVAILABLE');
    expect(knobs().calls('connections.list') - calls).toBe(1);
  });
});

describe('a failing Powens', () => {
  test('a 5xx on the list is retried once and then a 502 problem; the next request succeeds', async () => {
    const kim = stack.browser('kim');
    await connectBank(kim);
    knobs().fail('connections.list', { status: 503, times: 2 });
    const calls = knobs().calls('connections.list');
    expectProblem(await kim.request('GET', '/me/connections', { deadlineMs: worstCaseMs() }), 502, 'POWENS_UNAVAILABLE');
    expect(knobs().calls('connections.list') - calls).toBe(2);
    expect((await kim.request('GET', '/me/connections', { deadlineMs: worstCaseMs() })).status).toBe(200);
  });

  test('a single 5xx on the list is hidden by the retry', async () => {
    const lea = stack.browser('lea');
    await connectBank(lea);
    knobs().fail('connections.list', { status: 500, times: 1 });
    expect((await lea.request('GET', '/me/connections', { deadlineMs: worstCaseMs() })).status).toBe(200);
  });

  test('a 5xx on the code exchange is a 502 page, and the exchange is never sent twice', async () => {
    const max = stack.browser('max');
    const back = await completeWebview(await startConnect(max), { kind: 'connect' });
    knobs().fail('token.access', { status: 503, times: 1 });
    const calls = knobs().calls('token.access');
    expectPage(await max.request('GET', back.href.slice(back.origin.length), { deadlineMs: worstCaseMs() }), 502);
    expect(knobs().calls('token.access') - calls).toBe(1);
  });

  test('a 5xx on deleting a connection or the user is a 502 problem, and the DELETE is never sent twice', async () => {
    const nina = stack.browser('nina');
    const id = await connectBank(nina);
    knobs().fail('connections.delete', { status: 503, times: 1 });
    const deletes = knobs().calls('connections.delete');
    expectProblem(await nina.request('DELETE', `/me/connections/${id}`, { headers: { 'x-csrf': '1' }, deadlineMs: worstCaseMs() }), 502, 'POWENS_UNAVAILABLE');
    expect(knobs().calls('connections.delete') - deletes).toBe(1);

    knobs().fail('users.delete', { status: 500, times: 1 });
    const userDeletes = knobs().calls('users.delete');
    expectProblem(await nina.request('DELETE', '/me/connections', { headers: { 'x-csrf': '1' }, deadlineMs: worstCaseMs() }), 502, 'POWENS_UNAVAILABLE');
    expect(knobs().calls('users.delete') - userDeletes).toBe(1);
  });
});

test('the connections to Powens are kept alive: twenty list requests open at most two new connections', async () => {
  const omar = stack.browser('omar');
  await connectBank(omar);
  const calls = knobs().calls('connections.list');
  const accepted = stack.emulator.connectionsAccepted();
  for (let i = 0; i < 20; i += 1) expect((await omar.get('/me/connections')).status).toBe(200);
  expect(knobs().calls('connections.list') - calls).toBe(20);
  expect(stack.emulator.connectionsAccepted() - accepted).toBeLessThanOrEqual(2);
});

test('retries of a GET wait longer each time (backoff), and stop at the configured count', async () => {
  // A Powens that always answers 503, recording when each attempt arrives.
  const arrivals: number[] = [];
  const server = http.createServer((_req, res) => {
    arrivals.push(performance.now());
    res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"down"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // A deadline wide enough for three backoffs: retries happen within POWENS_TIMEOUT_MS.
  const client = new PowensClient({ ...stack.config.powens, apiUrl: `http://127.0.0.1:${port}/2.0`, retries: 3, timeoutMs: 10_000 });
  try {
    await expect(client.listConnections('a-token')).rejects.toMatchObject({ code: 'POWENS_UNAVAILABLE' });
    expect(arrivals).toHaveLength(4);
    const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] ?? 0));
    // 100, 200, 400 ms (plus jitter): lower bounds only, a slow machine cannot break them.
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);
  } finally {
    client.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
