import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { AppError } from '../errors.js';
import { failSpan, startSpan } from '../tracing.js';

export type RedisClient = Redis | Cluster;

/**
 * ioredis options, chosen so that a Redis problem is a fast 503 and never a hang, and so that
 * the service heals by itself. The defaults (offline queue on, 20 retries per command, no
 * command timeout) make every request wait while Redis is away, and connect-redis never reports
 * that: a browser would hang instead of getting a 503. Each choice is held by a test in
 * test/integration/redis-faults.test.ts or multi-instance.test.ts.
 * - enableOfflineQueue false: a command issued while disconnected is rejected at once
 *   ("Stream isn't writeable"), not queued until Redis returns.
 * - maxRetriesPerRequest 0: when the connection drops, the commands waiting for an answer are
 *   rejected at once (ioredis flushes them on every reconnect attempt), not kept for later.
 * - autoResendUnfulfilledCommands false: and never sent again on the next connection, where a
 *   write that had in fact been applied (an INCR, a GETDEL of a flow) would be applied twice.
 * - commandTimeout (REDIS_COMMAND_TIMEOUT_MS): a Redis that accepts connections but does not
 *   answer (paused, swapping, overloaded) fails the command after this long.
 * - socketTimeout: a connection that has had commands waiting without any byte back for several
 *   command timeouts is taken for dead (a half-open TCP connection after a host crash or a
 *   partition, which the kernel would only notice after many minutes) and is reconnected.
 * - keepAlive: TCP keep-alive probes after 30 s idle, so NATs and load balancers do not drop a
 *   quiet connection silently.
 * - retryStrategy: reconnect forever, 200 ms doubling to at most 2 s between attempts, so the
 *   service recovers by itself when Redis comes back, without a restart.
 * - reconnectOnError READONLY: after a failover the old master may stay up as a replica and
 *   refuse writes; reconnecting (Sentinel: to the new master) ends that. Returns 1, not 2: the
 *   failed command is not resent.
 * - enableReadyCheck: commands wait for Redis to have loaded its data after a restart (they are
 *   503s meanwhile) rather than seeing an empty database.
 * - lazyConnect: start-up connects explicitly and reports a clear error (connectRedis).
 * - enableAutoPipelining (standalone and Sentinel): the commands issued by all requests within
 *   one turn of the event loop go to Redis in one write. On a loaded instance that is one
 *   system call for dozens of commands instead of one each; a cached /me/connections (one GET)
 *   costs about a fifth less CPU (docs/PERFORMANCE.md). The cost: a command waits for the end of
 *   the current I/O phase (setImmediate) before it is sent. The fail-fast options above hold
 *   all the same: a pipeline on a stream that is not writeable is rejected at once, every
 *   command in it. Not for Cluster: a Cluster's auto-pipeline that meets a MOVED during a
 *   resharding or failover fails or misroutes commands of other slots with it
 *   (redis/ioredis#2075, open).
 */
function baseOptions(cfg: RedisConfig): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: cfg.commandTimeoutMs,
    socketTimeout: Math.max(5 * cfg.commandTimeoutMs, 5000),
    connectTimeout: Math.max(cfg.commandTimeoutMs, 2000),
    keepAlive: 30_000,
    enableReadyCheck: true,
    retryStrategy: (times: number) => backoff(times),
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
    enableAutoPipelining: true,
  };
}

/** 200 ms, 400 ms, ... capped at 2 s: quick to notice Redis is back, light on a Redis that is not. */
function backoff(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 5), 2000);
}

/**
 * Redis, Redis Sentinel or Redis Cluster from REDIS_URL and the REDIS_* variables.
 * - Standalone: REDIS_URL is the server (redis:// or rediss:// for TLS; user, password and
 *   database number from the URL).
 * - Sentinel (REDIS_SENTINELS=host:port,...; REDIS_SENTINEL_NAME): the master is found through
 *   the sentinels and followed across failovers; REDIS_URL then gives only the master's
 *   password, database and TLS (its host is not used); REDIS_SENTINEL_PASSWORD is the
 *   sentinels' own password.
 * - Cluster (REDIS_CLUSTER=true): REDIS_URL names one node to discover the others from; every
 *   key the service writes in one command or script shares a hash tag (storage/keys.ts).
 */
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
      // While the cluster is not ready (start-up, slots being refreshed) commands fail at once.
      enableOfflineQueue: false,
      enableReadyCheck: true,
      enableAutoPipelining: false,
      clusterRetryStrategy: (times: number) => backoff(times),
      // Cluster databases have no number; ioredis itself forces node connections to queue while
      // they connect and to leave reconnecting to the cluster, whatever is set here.
      redisOptions: { ...options, db: undefined, enableAutoPipelining: false },
      // TLS clusters (ElastiCache and the like): connect to nodes by the names they announce,
      // so their certificates match.
      ...(tls !== undefined ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    };
    return new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], clusterOptions);
  }
  if (cfg.sentinels.length > 0) {
    return new Redis({
      ...options,
      sentinels: cfg.sentinels,
      name: cfg.sentinelName,
      sentinelPassword: cfg.sentinelPassword,
      sentinelRetryStrategy: (times: number) => backoff(times),
      enableTLSForSentinelMode: tls !== undefined,
      // Listens to the sentinels' failover announcements and moves to the new master at once,
      // rather than when the old one fails or refuses a write.
      failoverDetector: true,
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
 * The storage operations, by a fixed name each: the `operation` label of
 * redis_command_duration_seconds. A closed list, so the label stays bounded and a new use of
 * Redis has to be named here.
 */
export type RedisOperation =
  | 'session_get'
  | 'session_set'
  | 'session_touch'
  | 'session_destroy'
  | 'user_sessions_track'
  | 'user_sessions_forget'
  | 'user_sessions_evict'
  | 'rate_limit_ip'
  | 'rate_limit_user'
  | 'rate_limit_webhook'
  | 'flow_create'
  | 'flow_drop'
  | 'flow_take'
  | 'flow_unindex'
  | 'flow_finish'
  | 'flow_finished_read'
  | 'flow_count'
  | 'flow_list'
  | 'token_read'
  | 'token_write'
  | 'token_undo'
  | 'token_delete'
  | 'user_index_read'
  | 'user_index_write'
  | 'user_index_delete'
  | 'replica_wait'
  | 'cache_read'
  | 'cache_invalidate'
  | 'cache_acquire'
  | 'cache_store'
  | 'cache_fail'
  | 'connectors_read'
  | 'connectors_write'
  | 'webhook_dedup'
  | 'webhook_dedup_release';

/**
 * Told of every Redis failure that reaches the boundary (the app counts them in its metrics),
 * and, through `timed`, of how long each storage operation took, failed or not. Passed in by
 * whoever builds a store, so there is no module-level registry: several apps in one process
 * (the tests) each count their own.
 */
export interface StoreErrorObserver {
  (err: unknown): void;
  timed?: (operation: RedisOperation, seconds: number) => void;
}

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

/** The span of one Redis operation, a child of the active one (the request's). */
export function redisSpan(operation: RedisOperation): ReturnType<typeof startSpan> {
  return startSpan(`redis ${operation}`, { 'db.system.name': 'redis' });
}

/** The time since `started` (performance.now()) reported as `operation`'s duration, if anyone listens. */
export function reportTiming(observe: StoreErrorObserver | undefined, operation: RedisOperation, started: number): void {
  observe?.timed?.(operation, (performance.now() - started) / 1000);
}

/**
 * Every storage operation passes here: its failure mapped (storeError), its duration reported
 * under its operation name, and its span (`redis token_read`) a child of the request's. The
 * promise is the command already sent (the argument is evaluated just before, in the same turn
 * of the event loop), so the time measured is Redis' answer, the round trip and the client's
 * queueing (auto-pipelining waits for the end of the event loop turn).
 */
export async function guard<T>(op: Promise<T>, observe: StoreErrorObserver | undefined, operation: RedisOperation): Promise<T> {
  const started = performance.now();
  const span = redisSpan(operation);
  try {
    return await op;
  } catch (err: unknown) {
    const mapped = storeError(err, observe);
    failSpan(span, mapped.code);
    throw mapped;
  } finally {
    reportTiming(observe, operation, started);
    span.end();
  }
}

/**
 * redis_up: 1 once the client is ready for commands, 0 as soon as its connection closes or it
 * gives up ('end'). For Cluster, 'ready' and 'close' are the cluster's own (all slots covered,
 * or not).
 */
export function watchRedisUp(redis: RedisClient, set: (up: 0 | 1) => void): void {
  set(redis.status === 'ready' ? 1 : 0);
  redis.on('ready', () => set(1));
  redis.on('close', () => set(0));
  redis.on('end', () => set(0));
}

// Deletes only if the value is still the one the caller read or wrote: a value replaced
// meanwhile (a token stored by another tab, a lock taken over after it expired) is left alone.
const DELETE_IF_EQUAL = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Compare-and-delete of one key; true when it was deleted. */
export async function deleteIfEqual(
  redis: RedisClient,
  key: string,
  expected: string,
  observe: StoreErrorObserver | undefined,
  operation: RedisOperation,
): Promise<boolean> {
  return (await guard(redis.eval(DELETE_IF_EQUAL, 1, key, expected), observe, operation)) === 1;
}

/** How many replicas must acknowledge a write before it counts as durable (REDIS_MIN_REPLICAS). */
export type MinReplicas = 'auto' | number;

/** Where writes went: the connection a WAIT must be sent on to cover them, and its life number. */
export interface WriteMark {
  readonly node: Redis | undefined;
  readonly epoch: number;
}

/** Milliseconds between two looks for replicas while none has been seen (auto). */
const REPLICA_CHECK_INTERVAL_MS = 10_000;

/**
 * Durability of the writes that matter (a user's token): on a replicated Redis (Sentinel, a
 * standalone master with replicas, Cluster with replicas), a write acknowledged by the master
 * alone is lost when the master fails before replicating it, and a failover promotes a replica
 * that never had it. After such a write the caller asks `acknowledged`: WAIT (bounded by
 * `waitMs`, below the command timeout) for the replicas to have everything this connection wrote.
 * Replication is one ordered stream, so a replica that acknowledged the offset after the write
 * has the write and everything before it.
 *
 * WAIT counts the writes of the connection it is sent on. A connection that closed between the
 * write and the WAIT (a failover: ioredis moves to the new master) makes a later WAIT meaningless
 * (a fresh connection has written nothing, so WAIT answers at once): every connection carries a
 * life number bumped on 'close', and a write whose connection changed is reported unacknowledged.
 * Redis Cluster: WAIT names no key, so ioredis would send it to any node; it goes to the master
 * that owns the key's slot, over the very connection the write used (ioredis keeps one per node).
 *
 * How many replicas: a number, or `auto`: one once any master has been seen with a replica
 * (`INFO replication` `connected_slaves`; Cluster: any replica in the topology), and from then on
 * for the life of the process. Sticky on purpose: during a failover the old master loses its
 * replica for a moment, exactly when its unreplicated writes are about to be lost.
 */
export class ReplicaWaiter {
  private seen = false;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private checking: Promise<void> | undefined;
  private readonly lives = new WeakMap<Redis, { n: number }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { minReplicas: MinReplicas; waitMs: number; onStoreError?: StoreErrorObserver; now?: () => number },
  ) {}

  /** Marks where the writes to `key` about to be sent will go. Take it before sending them. */
  mark(key: string): WriteMark {
    const node = this.nodeFor(key);
    return { node, epoch: node === undefined ? -1 : this.lifeOf(node) };
  }

  /** Replicas a write needs now: the configured number, or auto's current answer. */
  async required(): Promise<number> {
    if (this.opts.minReplicas !== 'auto') return this.opts.minReplicas;
    if (this.seen) return 1;
    const now = (this.opts.now ?? Date.now)();
    if (now - this.checkedAt >= REPLICA_CHECK_INTERVAL_MS) {
      this.checkedAt = now;
      this.checking ??= this.lookForReplicas().finally(() => (this.checking = undefined));
    }
    await this.checking;
    return this.seen ? 1 : 0;
  }

  /**
   * Whether the writes sent to `key` since `mark` are acknowledged by the replicas required.
   * False when they are not within `waitMs`, when the connection changed since the mark, or when
   * the WAIT itself fails: the caller then treats the write as not durable. Never throws.
   */
  async acknowledged(mark: WriteMark, key: string): Promise<boolean> {
    const needed = await this.required();
    if (needed === 0) return true;
    const node = this.nodeFor(key);
    if (node === undefined || node !== mark.node || node.status !== 'ready' || this.lifeOf(node) !== mark.epoch) return false;
    const started = performance.now();
    try {
      const acks = await node.wait(needed, this.opts.waitMs);
      return acks >= needed && this.lifeOf(node) === mark.epoch;
    } catch (err: unknown) {
      this.opts.onStoreError?.(err);
      return false;
    } finally {
      reportTiming(this.opts.onStoreError, 'replica_wait', started);
    }
  }

  private async lookForReplicas(): Promise<void> {
    try {
      if (this.redis instanceof Cluster) {
        this.seen ||= this.redis.nodes('slave').length > 0;
        return;
      }
      const info = await this.redis.info('replication');
      const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? '0');
      this.seen ||= replicas > 0;
    } catch (err: unknown) {
      // Unknown for now; asked again at the next write after the interval.
      this.opts.onStoreError?.(err);
    }
  }

  private nodeFor(key: string): Redis | undefined {
    if (!(this.redis instanceof Cluster)) return this.redis;
    const owner = this.redis.slots[keySlot(key)]?.[0];
    return owner === undefined ? undefined : this.redis.nodes('master').find((n) => `${n.options.host ?? ''}:${n.options.port ?? ''}` === owner);
  }

  private lifeOf(node: Redis): number {
    let life = this.lives.get(node);
    if (life === undefined) {
      const box = { n: 0 };
      node.on('close', () => {
        box.n += 1;
      });
      this.lives.set(node, box);
      life = box;
    }
    return life.n;
  }
}

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
