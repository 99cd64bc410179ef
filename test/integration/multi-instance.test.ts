// Several instances and Redis topologies (docs/REFERENCE.md, "Storage" and "Operations"), with real processes:
// two services on one Redis share every piece of state; a service reaches Redis through a real
// Sentinel (redis-server --sentinel), and through a real Redis Cluster.
import { jest } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { completeWebview, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import type { ConnectionsBody } from '../helpers/api.js';
import { Browser } from '../helpers/browser.js';
import { parseMetrics, sampleValue } from '../helpers/prometheus.js';
import { buildService } from '../helpers/build.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { killServices, serviceEnv, spawnService, type ServiceProcess } from '../helpers/service.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../helpers/stack.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

jest.setTimeout(120_000);

let emulator: RunningEmulator;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  await buildService(); // once per source state, shared by the test files (test/helpers/build.ts)
  emulator = await startEmulator({ clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] });
});
afterAll(async () => {
  await killServices();
  for (const cleanup of cleanups.reverse()) await cleanup();
  await emulator.close();
});

async function instance(env: Record<string, string>): Promise<ServiceProcess> {
  return spawnService(env);
}

async function baseEnv(redisUrl: string, publicPort?: number): Promise<Record<string, string>> {
  const port = await freePort();
  return serviceEnv({
    port,
    redisUrl,
    apiUrl: emulator.apiUrl,
    webviewUrl: emulator.url,
    ...(publicPort !== undefined ? { publicUrl: `http://127.0.0.1:${publicPort}` } : {}),
  });
}

/** A browser on another instance holding the same cookies, as behind a load balancer. */
function sameJar(from: Browser, base: string, userId: string): Browser {
  const other = new Browser(base, { 'x-user-id': userId });
  for (const [name, value] of from.cookies) other.cookies.set(name, value);
  return other;
}

async function connections(b: Browser): Promise<ConnectionsBody> {
  const hop = await b.get('/me/connections');
  expect(hop.status).toBe(200);
  return JSON.parse(hop.text) as ConnectionsBody;
}

/** /connect on one service, the webview, /callback on another (or the same): the connection id. */
async function linkAcross(first: ServiceProcess, second: ServiceProcess, userId: string): Promise<{ a: Browser; b: Browser; id: number }> {
  const a = new Browser(first.url, { 'x-user-id': userId });
  const start = await a.get('/connect');
  expect(start.status).toBe(302);
  const back = await completeWebview(start.location ?? '', { kind: 'connect' });
  const b = sameJar(a, second.url, userId);
  const cb = await b.get(`${back.pathname}${back.search}`);
  expect(cb.status).toBe(303);
  const id = Number(new URL(cb.location ?? '', second.url).searchParams.get('connection_id'));
  expect(id).toBeGreaterThan(0);
  return { a, b, id };
}

describe('two instances on one Redis', () => {
  let redis: TestRedis;
  let one: ServiceProcess;
  let two: ServiceProcess;

  beforeAll(async () => {
    redis = await startTestRedis();
    cleanups.push(() => redis.close());
    // Both answer for the same public URL, as behind one load balancer, with the same secrets.
    const envOne = await baseEnv(redis.url);
    const envTwo = { ...envOne, PORT: String(await freePort()), METRICS_TOKEN: 'metrics-token-for-instance-two' };
    [one, two] = await Promise.all([instance(envOne), instance(envTwo)]);
  });

  test('a flow started on one instance completes on the other, and either one serves the connections', async () => {
    const { a, b, id } = await linkAcross(one, two, 'paula');
    const fromOne = await connections(a);
    const fromTwo = await connections(b);
    expect(fromOne).toMatchObject({ linked: true });
    expect(fromOne.connections.map((c) => c.id)).toEqual([id]);
    expect(fromTwo).toEqual(fromOne);

    // A change made through one instance is seen by the other.
    expect((await b.request('DELETE', `/me/connections/${id}`, { headers: { 'x-csrf': '1' } })).status).toBe(204);
    expect((await connections(a)).connections).toEqual([]);
  });

  test('a returning user starts on the second instance and finishes on the first', async () => {
    await linkAcross(one, two, 'quentin');
    const { a } = await linkAcross(two, one, 'quentin');
    expect((await connections(a)).connections).toHaveLength(2);
  });

  test('each process exposes the default process metrics beside its own', async () => {
    // A flow of its own that finishes on the second instance: its /callback is counted there.
    await linkAcross(one, two, 'olga');
    const res = await fetch(`${two.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-for-instance-two' } });
    expect(res.status).toBe(200);
    const samples = parseMetrics(await res.text());
    expect(sampleValue(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'http_request_duration_seconds_count', { route: '/callback', status: '303' })).toBeGreaterThanOrEqual(1);
  });
});

function redisCli(args: string[]): string {
  const result = spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 10_000 });
  return `${result.stdout}${result.stderr}`;
}

function track(proc: ChildProcess): void {
  cleanups.push(() =>
    withinDeadline(
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
      5000,
      `${proc.spawnfile} (pid ${proc.pid}) to exit after SIGKILL`,
    ),
  );
}

describe('Redis Sentinel', () => {
  test('a service configured through a real Sentinel (passwords on both) does a full flow, its data in the master', async () => {
    const master = await startTestRedis({ password: 'master-password-1' });
    cleanups.push(() => master.close());
    const sentinelPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'bff-sentinel-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor bffmaster 127.0.0.1 ${master.port} 1`,
        'sentinel auth-pass bffmaster master-password-1',
        'requirepass sentinel-password-1',
        '',
      ].join('\n'),
    );
    // redis-server in sentinel mode: the binary the README asks for (no separate redis-sentinel package).
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    track(sentinel);
    await waitFor(
      () =>
        redisCli(['-p', String(sentinelPort), '--no-auth-warning', '-a', 'sentinel-password-1', 'SENTINEL', 'get-master-addr-by-name', 'bffmaster']).includes(
          String(master.port),
        ),
      { timeoutMs: 15_000, intervalMs: 100, what: `the sentinel on port ${sentinelPort} to know its master` },
    );

    const service = await instance({
      ...(await baseEnv('redis://:master-password-1@bffmaster/0')),
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: 'bffmaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-password-1',
      RATE_LIMIT_PER_IP: '100',
      RATE_LIMIT_PER_USER: '100',
    });
    const { a } = await linkAcross(service, service, 'rita');
    expect(await connections(a)).toMatchObject({ linked: true });
    expect(service.stdout()).toMatch(/"redis":"sentinel 127\.0\.0\.1:\d+ \(master bffmaster\)"/);
    expect(service.stdout()).not.toContain('master-password-1');

    const direct = new Redis(master.url);
    try {
      const keys = await direct.keys('svc:*');
      expect(keys.some((k) => k.startsWith('svc:token:'))).toBe(true);
      expect(keys.some((k) => k.startsWith('svc:sess:'))).toBe(true);
      expect(keys.some((k) => k.startsWith('svc:rl:'))).toBe(true);
    } finally {
      direct.disconnect();
    }
  });
});

describe('Redis Cluster', () => {
  test('a service on a real three-master Redis Cluster does a full flow with rate limits and the connections cache', async () => {
    const nodes = await Promise.all(
      [0, 1, 2].map(() => startTestRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] })),
    );
    for (const node of nodes) cleanups.push(() => node.close());
    const created = redisCli(['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    expect(created).toMatch(/All 16384 slots covered/);
    await waitFor(() => nodes.every((n) => redisCli(['-p', String(n.port), 'CLUSTER', 'INFO']).includes('cluster_state:ok')), {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the cluster to be ok on every node',
    });

    const service = await instance({
      ...(await baseEnv(nodes[0]?.url ?? '')),
      REDIS_CLUSTER: 'true',
      RATE_LIMIT_PER_IP: '100',
      RATE_LIMIT_PER_USER: '100',
      CONNECTIONS_CACHE_TTL_SECONDS: '60',
    });
    // Two users: their keys spread over the masters (hash tags keep each flow on one slot).
    for (const user of ['sam', 'tess']) {
      const { a, id } = await linkAcross(service, service, user);
      const first = await connections(a);
      expect(first.connections.map((c) => c.id)).toEqual([id]);
      expect(await connections(a)).toEqual(first); // from the cache
      expect((await a.request('DELETE', `/me/connections/${id}`, { headers: { 'x-csrf': '1' } })).status).toBe(204);
      expect((await connections(a)).connections).toEqual([]);
    }
    expect(service.stdout()).toMatch(/"redis":"cluster redis:\/\/127\.0\.0\.1:\d+"/);
    expect(service.stdout()).not.toMatch(/CROSSSLOT|MOVED|STORE_UNAVAILABLE/);
  });
});
