import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createApp, type BuiltApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { createLogger } from '../../src/logging.js';
import { Metrics } from '../../src/metrics.js';
import { PowensClient } from '../../src/powens/client.js';
import { connectRedis, createRedis, type RedisClient } from '../../src/storage/redis.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { Browser } from './browser.js';
import { freePort, startTestRedis, type TestRedis } from './redis-server.js';

export const TEST_CLIENT_ID = 'test-client';
export const TEST_CLIENT_SECRET = 'test-secret-' + randomBytes(12).toString('hex');

export interface Stack {
  url: string;
  config: Config;
  built: BuiltApp;
  server: RunningServer;
  emulator: RunningEmulator;
  testRedis: TestRedis;
  /** The app's own client. */
  redis: RedisClient;
  /** A separate client for assertions (reads every key under the prefix). */
  inspect: Redis;
  powens: PowensClient;
  /** Every log line the app wrote, as JSON text. */
  logs: string[];
  browser(userId?: string, headers?: Record<string, string>): Browser;
  /** All keys and values under this stack's prefix. */
  dump(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  /** Share a Redis (and emulator) between stacks, e.g. two instances. */
  testRedis?: TestRedis;
  emulator?: RunningEmulator;
  prefix?: string;
  /** The app's clock (ms since the epoch), e.g. to move a pending flow past its expiry. */
  now?: () => number;
}

export const TEST_TOKEN_KEY = `k1:${randomBytes(32).toString('base64')}`;

/**
 * The real app on a real port, against a real redis-server and the emulator over HTTP.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const testRedis = opts.testRedis ?? (await startTestRedis());
  const emulator =
    opts.emulator ??
    (await startEmulator({
      port: 0,
      clients: [{ clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }],
    }));
  const port = await freePort();
  const prefix = opts.prefix ?? `t${randomBytes(4).toString('hex')}:`;
  const result = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
    POWENS_CLIENT_ID: TEST_CLIENT_ID,
    POWENS_CLIENT_SECRET: TEST_CLIENT_SECRET,
    POWENS_API_URL: emulator.apiUrl,
    POWENS_WEBVIEW_URL: emulator.url,
    POWENS_TIMEOUT_MS: '1000',
    POWENS_RETRIES: '1',
    REDIS_URL: testRedis.url,
    REDIS_PREFIX: prefix,
    REDIS_COMMAND_TIMEOUT_MS: '500',
    SESSION_SECRET: 'test-session-secret-0123456789-abcdefghij',
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEY,
    AUTH_MODE: 'header',
    // The tests' clients are on loopback: they play the proxy that sets the identity header.
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    LOG_LEVEL: 'debug',
    SHUTDOWN_TIMEOUT_MS: '2000',
    // Nothing in front of a test's app: close() drains at once.
    SHUTDOWN_DELAY_MS: '0',
    ...opts.env,
  });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  const config = result.config;
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, { write: (line: string) => void logs.push(line) });
  const redis = createRedis(config.redis);
  await connectRedis(redis, config.redis);
  redis.on('error', () => undefined);
  const inspect = new Redis(testRedis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  inspect.on('error', () => undefined);
  const metrics = new Metrics({ defaultMetrics: false });
  const powens = new PowensClient(config.powens, metrics.observePowens, logger, metrics.observePools);
  const built = createApp({ config, redis, powens, logger, metrics, ...(opts.now !== undefined ? { now: opts.now } : {}) });
  const server = await startServer(built.app, { config, lifecycle: built.lifecycle, logger });
  const url = config.publicUrl.href.replace(/\/$/, '');

  return {
    url,
    config,
    built,
    server,
    emulator,
    testRedis,
    redis,
    inspect,
    powens,
    logs,
    browser: (userId, headers = {}) =>
      new Browser(url, userId === undefined ? headers : { [config.auth.mode === 'header' ? config.auth.header : 'x-user-id']: userId, ...headers }),
    async dump() {
      const out = new Map<string, string>();
      let cursor = '0';
      do {
        const [next, keys] = await inspect.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const type = await inspect.type(k);
          if (type === 'string') out.set(k, (await inspect.get(k)) ?? '');
          else if (type === 'zset') out.set(k, (await inspect.zrange(k, 0, -1)).join(','));
          else if (type === 'hash') out.set(k, JSON.stringify(await inspect.hgetall(k)));
          else if (type === 'list') out.set(k, (await inspect.lrange(k, 0, -1)).join(','));
          else if (type === 'set') out.set(k, (await inspect.smembers(k)).sort().join(','));
          else out.set(k, `<${type}>`);
        }
      } while (cursor !== '0');
      return out;
    },
    async close() {
      await server.shutdown();
      powens.close();
      built.close();
      redis.disconnect();
      inspect.disconnect();
      if (opts.emulator === undefined) await emulator.close();
      if (opts.testRedis === undefined) await testRedis.close();
    },
  };
}

/** The connect flow up to the webview: returns the webview URL the service redirected to. */
export async function startConnect(b: Browser, path = '/connect'): Promise<string> {
  const hop = await b.get(path);
  if (hop.status !== 302 || hop.location === undefined) {
    throw new Error(`expected a 302 to the webview from ${path}, got ${hop.status}: ${hop.text.slice(0, 300)}`);
  }
  return hop.location;
}
