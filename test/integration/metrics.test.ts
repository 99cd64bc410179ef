// GET /metrics (docs/REFERENCE.md, "Operations"): Prometheus text from prom-client, protected by
// METRICS_TOKEN, with request durations by route template, flow outcomes, Powens calls and Redis
// errors. The default process metrics are checked on the real process (multi-instance test).
import { completeWebview } from '../../emulator/index.js';
import { labelValues, parseMetrics, sampleValue, type Sample } from '../helpers/prometheus.js';
import { waitUntilReady } from '../helpers/service.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { METRICS_TOKEN, CONNECTIONS_CACHE_TTL_SECONDS: '0' } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return parseMetrics(await res.text());
}

const requests = (samples: Sample[], labels: Record<string, string>): number => sampleValue(samples, 'http_request_duration_seconds_count', labels);

describe('access', () => {
  test('without the bearer token /metrics is 401 and shows nothing', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN}x`]) {
      const res = await fetch(`${stack.url}/metrics`, { headers: authorization === undefined ? {} : { authorization } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.text()).not.toMatch(/http_request_duration_seconds/);
    }
  });

  test('with the token it is the Prometheus text format', async () => {
    const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(/^# HELP http_request_duration_seconds /m);
  });
});

describe('request durations', () => {
  test('are labelled by route template, never by the raw path', async () => {
    const dave = stack.browser('dave');
    expect((await dave.get('/reconnect/123')).status).toBe(409); // nothing to reconnect yet
    expect((await dave.get('/reconnect/456')).status).toBe(409);
    const samples = await scrape();
    expect(requests(samples, { method: 'GET', route: '/reconnect/:connectionId', status: '409' })).toBe(2);
    expect(labelValues(samples, 'http_request_duration_seconds_count', 'route').join(' ')).not.toMatch(/123|456/);
  });

  test('a request refused before its handler runs is still labelled by its route', async () => {
    const nobody = stack.browser();
    expect((await nobody.get('/me/connections')).status).toBe(401);
    expect((await nobody.request('DELETE', '/me/connections/77', { headers: { 'x-csrf': '1' } })).status).toBe(401);
    const samples = await scrape();
    expect(requests(samples, { method: 'GET', route: '/me/connections', status: '401' })).toBe(1);
    expect(requests(samples, { method: 'DELETE', route: '/me/connections/:id', status: '401' })).toBe(1);
  });

  test('every path no route knows shares one label, so random paths cannot grow the registry', async () => {
    const before = requests(await scrape(), { route: 'unmatched', status: '404' });
    const b = stack.browser();
    for (const path of ['/random-abc-1', '/random-abc-2/x', '/.env', '/wp-admin/setup.php']) {
      expect((await b.get(path)).status).toBe(404);
    }
    const samples = await scrape();
    expect(requests(samples, { method: 'GET', route: 'unmatched', status: '404' }) - before).toBe(4);
    expect(labelValues(samples, 'http_request_duration_seconds_count', 'route').join(' ')).not.toMatch(/random|wp-admin|\.env/);
  });
});

describe('flows and Powens', () => {
  test('flow outcomes are counted by flow and result code', async () => {
    const before = await scrape();
    const erin = stack.browser('erin');
    const ok = await completeWebview(await startConnect(erin), { kind: 'connect' });
    expect((await erin.get(ok.href)).status).toBe(303);
    const cancelled = await completeWebview(await startConnect(erin), { kind: 'cancel' });
    expect((await erin.get(cancelled.href)).status).toBe(400);
    expect((await erin.get('/callback?state=not-a-state&code=x')).status).toBe(400);

    const after = await scrape();
    const delta = (labels: Record<string, string>): number =>
      sampleValue(after, 'powens_flow_outcomes_total', labels) - sampleValue(before, 'powens_flow_outcomes_total', labels);
    expect(delta({ flow: 'connect', result: 'ok' })).toBe(1);
    expect(delta({ flow: 'connect', result: 'FLOW_CANCELLED' })).toBe(1);
    expect(delta({ flow: 'unknown', result: 'STATE_INVALID' })).toBe(1);
  });

  test('Powens calls are timed by endpoint, and their failures counted by endpoint and error', async () => {
    const frank = stack.browser('frank');
    const back = await completeWebview(await startConnect(frank), { kind: 'connect' });
    expect((await frank.get(back.href)).status).toBe(303);
    stack.emulator.emulator.knobs.fail('connections.list', { status: 500 });
    expect((await frank.get('/me/connections')).status).toBe(502);

    const samples = await scrape();
    expect(sampleValue(samples, 'powens_request_duration_seconds_count', { endpoint: 'token.access', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'powens_request_duration_seconds_count', { endpoint: 'connections.list', outcome: 'error' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'powens_request_errors_total', { endpoint: 'connections.list', code: 'POWENS_UNAVAILABLE' })).toBeGreaterThanOrEqual(1);
    expect(labelValues(samples, 'powens_request_duration_seconds_count', 'endpoint').join(' ')).not.toMatch(/\/|\d/);
  });
});

describe('Redis', () => {
  test('storage operations that fail while Redis is away are counted as Redis command errors', async () => {
    const grace = stack.browser('grace');
    const before = sampleValue(await scrape(), 'redis_errors_total', { kind: 'command' });
    await stack.testRedis.stop();
    try {
      expect((await grace.get('/me/connections')).status).toBe(503);
      expect((await grace.get('/connect')).status).toBe(503);
    } finally {
      await stack.testRedis.start();
    }
    // Back in service before the next step (and before the stack closes its clients).
    await waitUntilReady(stack.url, { what: 'the service to be ready again once Redis is back' });
    // /metrics itself needs no Redis.
    const after = sampleValue(await scrape(), 'redis_errors_total', { kind: 'command' });
    expect(after - before).toBeGreaterThanOrEqual(2);
  });
});
