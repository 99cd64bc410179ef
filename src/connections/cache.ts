import type { Config } from '../config.js';
import { randomToken } from '../crypto.js';
import { AppError, type ErrorCode } from '../errors.js';
import type { ConnectionView } from '../powens/status.js';
import type { Keys } from '../storage/keys.js';
import { timerOnly, type Wakeups } from '../storage/pubsub.js';
import { guard, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';

export interface ConnectionsCacheOptions {
  /** How long a user's list is served from Redis; 0 turns the cache off. */
  ttlSeconds: number;
  /** How long a fill may hold the lock; past it, the holder is taken for dead and another may fill. */
  lockMs: number;
  /** How often a request waiting for another instance's fill looks at the cache when no message woke it. */
  pollMs?: number;
  /** How long a failed fill's error is served to the requests that follow it. */
  failureMs?: number;
  /** Pub/sub wake-ups; without them a waiting request only polls. */
  wakeups?: Wakeups;
  /** Told of Redis failures (metrics). */
  onStoreError?: StoreErrorObserver;
  /** Told of each cache event (connections_cache_events_total). */
  onEvent?: (event: CacheEvent) => void;
}

/**
 * - hit: a request answered from the cache;
 * - miss: a fill began (this request asks Powens);
 * - shared_wait: a request waits for a fill another request (of this process or another) began;
 * - fill_failure: a fill failed with a Powens error, which is kept for the requests that wait;
 * - negative_hit: a look at the cache found such an error, and answers with it without asking Powens.
 */
export type CacheEvent = 'hit' | 'miss' | 'shared_wait' | 'fill_failure' | 'negative_hit';

/** The lock outlives the slowest fill: POWENS_TIMEOUT_MS bounds a whole Powens call, retries and the wait for a slot included. */
export function connectionsCacheOptions(config: Pick<Config, 'connectionsCacheTtlSeconds' | 'powens'>): ConnectionsCacheOptions {
  return { ttlSeconds: config.connectionsCacheTtlSeconds, lockMs: Math.min(config.powens.timeoutMs + 1000, 30_000) };
}

/**
 * What a load answers: the views of a linked user, or null for a user with no (usable) token.
 * Both are cached: every change of either (a flow storing a token, an unlink, a token Powens
 * refuses, a webhook) invalidates the user's entry. Read-only: one list may be shared by every
 * request that waited for the same fill.
 */
export type Loaded = readonly ConnectionView[] | null;

/**
 * The errors of a fill that are shared with the requests waiting for it: Powens' own failures,
 * the same for every request of the user (unreachable, hanging, failing, unreadable, refusing).
 * Not a refused token (dropped, then the user is simply not linked), nor a Redis failure (the
 * entry could not be written either), nor a bug.
 */
const SHARED_FAILURES = ['POWENS_UNAVAILABLE', 'POWENS_BAD_RESPONSE', 'POWENS_REJECTED'] as const satisfies readonly ErrorCode[];
type SharedFailure = (typeof SHARED_FAILURES)[number];

function sharedFailureOf(err: unknown): SharedFailure | undefined {
  return err instanceof AppError ? SHARED_FAILURES.find((code) => code === err.code) : undefined;
}

/**
 * Either the cached list, or a recent fill's failure, or the fill lock, or none of them (someone
 * else is filling: then how long its lock has left), and in every case the current generation. Atomic, so a fill that finished
 * between a miss and this call is seen as a hit (or its failure) rather than causing a second
 * Powens call.
 */
const ACQUIRE = `
local cached = redis.call('GET', KEYS[1])
local generation = redis.call('GET', KEYS[2]) or ''
if cached then return {'hit', generation, cached} end
local failed = redis.call('GET', KEYS[4])
if failed then return {'failed', generation, failed} end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lock', generation, ''} end
return {'busy', generation, tostring(redis.call('PTTL', KEYS[3]))}
`;

/** Stores the list only if no invalidation happened since the fill began; frees the lock; wakes the waiters. */
const STORE = `
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
redis.call('PUBLISH', ARGV[5], 'filled')
return 1
`;

/**
 * A failed fill: keeps its error code for a few seconds (unless an invalidation happened since the
 * fill began: the next request may well succeed), frees the lock, wakes the waiters. With
 * ARGV[2] empty, only frees the lock and wakes them: one of them fills in its turn.
 */
const FAIL = `
if ARGV[2] ~= '' and (redis.call('GET', KEYS[1]) or '') == ARGV[1] then
  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
end
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[5], 'failed')
return 1
`;

/** Generations are kept long after any fill could still be running. */
const GENERATION_TTL_SECONDS = 86_400;

/**
 * How long a failed fill's error answers the user's requests. Long enough for every request that
 * waited (or arrives just after) to get it without asking Powens again; short enough that, once
 * Powens is back, the user's next poll sees it. During an outage each user then costs Powens one
 * call per POWENS_TIMEOUT_MS plus this, whatever the number of instances and requests.
 */
const FAILURE_MS = 3000;

/**
 * Between two looks of a waiting request when a message may have been missed (its subscription
 * is not in place, or its connection dropped since): messages are the way, this the fallback.
 * While no message can have been missed, it looks only when the filler's lock expires (the
 * filler died without a word).
 */
const POLL_MS = 500;

type Acquired =
  | { kind: 'hit'; loaded: Loaded }
  | { kind: 'failed'; code: SharedFailure }
  | { kind: 'lock'; generation: string; lockToken: string }
  /** lockLeftMs: how long the filler's lock has left (-1: unknown). */
  | { kind: 'busy'; generation: string; lockToken: string; lockLeftMs: number };

/**
 * The per-user connections cache in Redis. Concurrent misses for one user cost one Powens call:
 * within a process they share one promise; across processes one of them takes a short lock and
 * the others wait for it, woken by a message when it is done (pub/sub, storage/pubsub.ts), and
 * look for themselves when its lock expires (the filler died), or every half second while a
 * message may have been missed. When the fill fails with
 * a Powens error, its error code is kept a few seconds and every waiting request answers with it
 * at once instead of calling Powens in its turn: a Powens outage costs each request one
 * POWENS_TIMEOUT_MS at most, whatever the number of instances. When the lock holder dies, its
 * lock expires and a waiting request fills in its place.
 *
 * Every invalidation changes the user's generation (and drops a kept failure), and a fill stores
 * its answer only if the generation is still the one it started with: an answer read before a
 * delete never lands in the cache after it. The cached value holds the connection views only
 * (or null: not linked), never a token; a kept failure holds an error code only.
 */
export class ConnectionsCache {
  private readonly inflight = new Map<string, { generation: string; promise: Promise<Loaded> }>();
  private readonly pollMs: number;
  private readonly failureMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly options: ConnectionsCacheOptions,
  ) {
    this.pollMs = options.pollMs ?? POLL_MS;
    this.failureMs = options.failureMs ?? FAILURE_MS;
  }

  get enabled(): boolean {
    return this.options.ttlSeconds > 0;
  }

  /**
   * The user's list, from the cache or loaded once for every request that asks meanwhile. What it
   * answers may be shared with those requests: it is never to be changed in place.
   */
  async get(userId: string, load: () => Promise<Loaded>): Promise<Loaded> {
    if (!this.enabled) return load();
    const raw = await guard(this.redis.get(this.keys.connectionsCache(userId)), this.options.onStoreError, 'cache_read');
    const cached = parse(raw);
    if (cached !== undefined) {
      this.event('hit');
      return cached;
    }
    // Not ours to read (an older format, a manual edit): drop it rather than wait for its TTL.
    if (raw !== null) await this.invalidate(userId);
    const first = await this.acquire(userId);
    if (first.kind === 'hit') {
      this.event('hit');
      return first.loaded;
    }
    if (first.kind === 'failed') throw sharedFailure(first.code);
    const shared = this.inflight.get(userId);
    if (shared !== undefined && shared.generation === first.generation && first.kind === 'busy') {
      this.event('shared_wait');
      return shared.promise;
    }
    this.event(first.kind === 'lock' ? 'miss' : 'shared_wait');
    const promise = first.kind === 'lock' ? this.fill(userId, first.generation, first.lockToken, load) : this.wait(userId, load);
    const entry = { generation: first.generation, promise };
    this.inflight.set(userId, entry);
    const forget = (): void => {
      if (this.inflight.get(userId) === entry) this.inflight.delete(userId);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Drops the user's list and any kept failure; a fill already running will not store what it read. */
  async invalidate(userId: string): Promise<void> {
    await guard(
      this.redis
        .multi()
        .set(this.keys.connectionsGeneration(userId), randomToken(16), 'EX', GENERATION_TTL_SECONDS)
        .del(this.keys.connectionsCache(userId))
        .del(this.keys.connectionsFailure(userId))
        .exec(),
      this.options.onStoreError,
      'cache_invalidate',
    );
  }

  private event(event: CacheEvent): void {
    this.options.onEvent?.(event);
  }

  private async acquire(userId: string): Promise<Acquired> {
    const lockToken = randomToken(16);
    const keys = [...this.scriptKeys(userId), this.keys.connectionsFailure(userId)];
    const reply = (await guard(this.redis.eval(ACQUIRE, 4, ...keys, lockToken, String(this.options.lockMs)), this.options.onStoreError, 'cache_acquire')) as [
      string,
      string,
      string,
    ];
    const [kind, generation, value] = reply;
    if (kind === 'hit') {
      const hit = parse(value);
      // Unreadable: written by someone else just now; wait for the next look.
      return hit === undefined ? { kind: 'busy', generation, lockToken, lockLeftMs: -1 } : { kind: 'hit', loaded: hit };
    }
    if (kind === 'failed') {
      this.event('negative_hit');
      // Only codes of SHARED_FAILURES are written; anything else (a manual edit) is read as the outage it most likely is.
      return { kind: 'failed', code: SHARED_FAILURES.find((code) => code === value) ?? 'POWENS_UNAVAILABLE' };
    }
    return kind === 'lock' ? { kind, generation, lockToken } : { kind: 'busy', generation, lockToken, lockLeftMs: Number(value) };
  }

  private async fill(userId: string, generation: string, lockToken: string, load: () => Promise<Loaded>): Promise<Loaded> {
    let loaded: Loaded;
    try {
      loaded = await load();
    } catch (err: unknown) {
      const code = sharedFailureOf(err);
      if (code !== undefined) this.event('fill_failure');
      await this.failed(userId, generation, lockToken, code ?? '').catch(() => undefined);
      throw err;
    }
    await guard(
      this.redis.eval(
        STORE,
        3,
        ...this.scriptKeys(userId),
        generation,
        JSON.stringify(loaded),
        String(this.options.ttlSeconds),
        lockToken,
        this.keys.connectionsFilled(userId),
      ),
      this.options.onStoreError,
      'cache_store',
    );
    return loaded;
  }

  /** KEYS of STORE, and the first three of ACQUIRE; one hash tag, so one Cluster slot. */
  private scriptKeys(userId: string): [string, string, string] {
    return [this.keys.connectionsCache(userId), this.keys.connectionsGeneration(userId), this.keys.connectionsLock(userId)];
  }

  private async failed(userId: string, generation: string, lockToken: string, code: SharedFailure | ''): Promise<void> {
    const keys = [this.keys.connectionsGeneration(userId), this.keys.connectionsLock(userId), this.keys.connectionsFailure(userId)];
    await guard(
      this.redis.eval(FAIL, 3, ...keys, generation, code, String(this.failureMs), lockToken, this.keys.connectionsFilled(userId)),
      this.options.onStoreError,
      'cache_fail',
    );
  }

  /**
   * Another request is filling: wait for its message (or look every pollMs) until its answer is
   * cached, or its failure kept. When the lock is gone without either (the holder died, failed
   * otherwise, or its answer was outdated), take the lock and fill. Subscribed before the first
   * look, so a fill that ends between the look and the wait still wakes it.
   */
  private async wait(userId: string, load: () => Promise<Loaded>): Promise<Loaded> {
    const deadline = Date.now() + this.options.lockMs;
    const wakeup = this.options.wakeups === undefined ? timerOnly() : await this.options.wakeups.listen(this.keys.connectionsFilled(userId));
    try {
      for (;;) {
        const next = await this.acquire(userId);
        if (next.kind === 'hit') return next.loaded;
        if (next.kind === 'failed') throw sharedFailure(next.code);
        if (next.kind === 'lock') {
          this.event('miss');
          return await this.fill(userId, next.generation, next.lockToken, load);
        }
        const left = deadline - Date.now();
        // The lock expires within lockMs of this wait's start: one that outlives it means Redis
        // misbehaves (or fills keep failing otherwise): answer without the cache.
        if (left <= 0) return load();
        // -1: a lock without expiry (not ours), or an unreadable entry: look again soon.
        const pause = wakeup.reliable() && next.lockLeftMs > 0 ? Math.max(this.pollMs, next.lockLeftMs + 10) : this.pollMs;
        await wakeup.next(Math.min(pause, left));
      }
    } finally {
      wakeup.stop();
    }
  }
}

/** The error a waiting request answers with: the failed fill's code; the cause stays in that fill's log line. */
function sharedFailure(code: SharedFailure): AppError {
  return new AppError(code, { logDetail: { reason: 'the fill this request waited for failed', shared: true } });
}

/**
 * A cached entry (`null` for a user with no token, else the views), or undefined when it is not
 * JSON of an array or null. The views inside are not checked one by one: fill() wrote them with
 * JSON.stringify, and Redis is trusted with the integrity of this entry as it is with sessions
 * and pending flows (whoever can write to Redis can forge those too); it is never trusted with a
 * secret (tokens are sealed). The stored text is the same as the previous releases' (the views'
 * JSON, or `null`), so instances of both can share one Redis during a rolling deploy.
 */
function parse(value: string | null): Loaded | undefined {
  if (value === null) return undefined;
  try {
    const loaded: unknown = JSON.parse(value);
    return loaded === null || Array.isArray(loaded) ? (loaded as Loaded) : undefined;
  } catch {
    return undefined;
  }
}
