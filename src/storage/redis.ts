import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { AppError } from '../errors.js';

export type RedisClient = Redis | Cluster;

/**
 * ioredis options chosen to fail fast. The defaults (offline queue on, 20 retries per command,
 * no command timeout) make every request wait while Redis is away, and connect-redis never
 * reports that: a browser would hang instead of getting a 503.
 * - enableOfflineQueue false: a command issued while disconnected is rejected at once.
 * - maxRetriesPerRequest 0: a command in flight when the connection drops is rejected at once,
 *   not replayed on the next connection.
 * - commandTimeout: a Redis that accepts TCP but does not answer (paused, overloaded) is an
 *   error after this long rather than a hang.
 * - retryStrategy: reconnect forever with a capped backoff, so the service recovers by itself
 *   when Redis comes back, without a restart.
 * - lazyConnect: start-up connects explicitly and reports a clear error (waitForRedis).
 */
function baseOptions(cfg: RedisConfig): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: cfg.commandTimeoutMs,
    connectTimeout: Math.max(cfg.commandTimeoutMs, 2000),
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    // A reconnect after a failover must not resend commands that may have been applied.
    autoResendUnfulfilledCommands: false,
  };
}

/** Redis, Redis Sentinel or Redis Cluster from REDIS_URL and the REDIS_* variables. */
export function createRedis(cfg: RedisConfig): RedisClient {
  if (cfg.url === undefined) throw new Error('createRedis needs REDIS_URL');
  const url = new URL(cfg.url);
  const tls = url.protocol === 'rediss:' ? {} : undefined;
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const password = url.password === '' ? undefined : decodeURIComponent(url.password);
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  const options: RedisOptions = { ...baseOptions(cfg), username, password, db, tls };

  if (cfg.cluster) {
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      clusterRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      redisOptions: { ...options, db: undefined },
    };
    return new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], clusterOptions);
  }
  if (cfg.sentinels.length > 0) {
    return new Redis({
      ...options,
      sentinels: cfg.sentinels,
      name: cfg.sentinelName,
      sentinelPassword: cfg.sentinelPassword,
      sentinelRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      enableTLSForSentinelMode: tls !== undefined,
    });
  }
  return new Redis({ ...options, host: url.hostname, port: Number(url.port || 6379) });
}

/**
 * Connects at start-up, waiting up to `timeoutMs`. Rejects with a message an operator can act
 * on (the address and the reason, never the password).
 */
export async function connectRedis(client: RedisClient, cfg: RedisConfig): Promise<void> {
  const where = describeRedis(cfg);
  let lastError = 'no answer';
  const onError = (err: unknown): void => {
    lastError = err instanceof Error ? err.message : String(err);
  };
  client.on('error', onError);
  try {
    const deadline = Date.now() + cfg.startupTimeoutMs;
    const connecting = client.connect().catch((err: unknown) => {
      onError(err);
    });
    while (Date.now() < deadline) {
      if (client.status === 'ready') {
        await client.ping();
        return;
      }
      if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(lastError)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    void connecting;
    throw new Error(`Redis at ${where} is not reachable or refused the connection: ${redactUrl(lastError)}`);
  } finally {
    client.off('error', onError);
  }
}

/** host:port (or sentinel/cluster description) without credentials. */
export function describeRedis(cfg: RedisConfig): string {
  if (cfg.url === undefined) return 'memory';
  const u = new URL(cfg.url);
  if (cfg.sentinels.length > 0) {
    return `sentinel ${cfg.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} (master ${cfg.sentinelName ?? ''})`;
  }
  return `${cfg.cluster ? 'cluster ' : ''}${u.protocol}//${u.hostname}:${u.port || '6379'}`;
}

function redactUrl(text: string): string {
  return text.replace(/(rediss?:\/\/)[^@\s]*@/g, '$1[redacted]@');
}

/**
 * Told of every Redis failure that reaches the boundary (the app counts them in its metrics).
 * Passed in by whoever builds a store, so there is no module-level registry: several apps in
 * one process (the tests) each count their own.
 */
export type StoreErrorObserver = (err: unknown) => void;

/**
 * The boundary: any failure talking to Redis becomes STORE_UNAVAILABLE (503), keeping the
 * original as `cause` for the log. An AppError passing through is not a Redis failure and is
 * neither wrapped nor counted.
 */
export function storeError(err: unknown, observe?: StoreErrorObserver): AppError {
  if (err instanceof AppError) return err;
  observe?.(err);
  return new AppError('STORE_UNAVAILABLE', { cause: err, retryAfter: 5 });
}

export async function guard<T>(op: Promise<T>, observe?: StoreErrorObserver): Promise<T> {
  try {
    return await op;
  } catch (err: unknown) {
    throw storeError(err, observe);
  }
}
