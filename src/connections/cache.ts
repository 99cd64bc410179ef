import type { Config } from '../config.js';
import { randomToken } from '../crypto.js';
import type { ConnectionView } from '../powens/status.js';
import type { Keys } from '../storage/keys.js';
import { deleteIfEqual, guard, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';

export interface ConnectionsCacheOptions {
  /** How long a user's list is served from Redis; 0 turns the cache off. */
  ttlSeconds: number;
  /** How long a fill may hold the lock; past it, the holder is taken for dead and another may fill. */
  lockMs: number;
  /** How often a request waiting for another instance's fill looks at the cache. */
  pollMs?: number;
  /** Told of Redis failures (metrics). */
  onStoreError?: StoreErrorObserver;
  /** Told of each lookup's outcome (connections_cache_events_total{event}). */
  onEvent?: (event: 'hit' | 'miss' | 'negative_hit') => void;
}

/** The lock outlives the slowest fill: POWENS_TIMEOUT_MS bounds a whole Powens call, retries included. */
export function connectionsCacheOptions(config: Pick<Config, 'connectionsCacheTtlSeconds' | 'powens'>): ConnectionsCacheOptions {
  return { ttlSeconds: config.connectionsCacheTtlSeconds, lockMs: Math.min(config.powens.timeoutMs + 1000, 30_000) };
}

/**
 * What a load answers: the views of a linked user, or null for a user with no (usable) token.
 * Both are cached: every change of either (a flow storing a token, an unlink, a token Powens
 * refuses, a webhook) invalidates the user's entry.
 */
export type Loaded = ConnectionView[] | null;

/**
 * The cache hands out the JSON text of a Loaded, as stored, and the API sends it inside its
 * answer without parsing and serializing it again on every poll. The stored text is the same as
 * the previous release's (JSON.stringify of the views, or `null`), so instances of both can share
 * one Redis during a rolling deploy without invalidating each other's entries.
 */
export type LoadedJson = string;

/**
 * Either the cached list, or the fill lock, or neither (someone else is filling), and in every
 * case the current generation. Atomic, so a fill that finished between a miss and this call is
 * seen as a hit rather than causing a second Powens call.
 */
const ACQUIRE = `
local cached = redis.call('GET', KEYS[1])
local generation = redis.call('GET', KEYS[2]) or ''
if cached then return {'hit', generation, cached} end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lock', generation, ''} end
return {'busy', generation, ''}
`;

/** Stores the list only if no invalidation happened since the fill began; then frees the lock. */
const STORE = `
if (redis.call('GET', KEYS[2]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1
`;

/** Generations are kept long after any fill could still be running. */
const GENERATION_TTL_SECONDS = 86_400;

type Acquired = { kind: 'hit'; json: LoadedJson } | { kind: 'lock' | 'busy'; generation: string; lockToken: string };

/**
 * The per-user connections cache in Redis. Concurrent misses for one user cost one Powens call:
 * within a process they share one promise; across processes one of them takes a short lock and
 * the others poll the cache until it is filled, or fill it themselves when the lock holder dies.
 * Every invalidation changes the user's generation, and a fill stores its answer only if the
 * generation is still the one it started with: an answer read before a delete never lands in
 * the cache after it. The cached value holds the connection views only (or null: not linked),
 * never a token.
 */
export class ConnectionsCache {
  private readonly inflight = new Map<string, { generation: string; promise: Promise<LoadedJson> }>();
  private readonly pollMs: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly options: ConnectionsCacheOptions,
  ) {
    this.pollMs = options.pollMs ?? 20;
  }

  get enabled(): boolean {
    return this.options.ttlSeconds > 0;
  }

  async get(userId: string, load: () => Promise<Loaded>): Promise<LoadedJson> {
    if (!this.enabled) return JSON.stringify(await load());
    const raw = await guard(this.redis.get(this.keys.connectionsCache(userId)), this.options.onStoreError, 'cache_read');
    const cached = parse(raw);
    if (cached !== undefined) return this.found(cached);
    // Not ours to read (an older format, a manual edit): drop it rather than wait for its TTL.
    if (raw !== null) await this.invalidate(userId);
    const first = await this.acquire(userId);
    if (first.kind === 'hit') return this.found(first.json);
    this.options.onEvent?.('miss');
    const shared = this.inflight.get(userId);
    if (shared !== undefined && shared.generation === first.generation && first.kind === 'busy') return shared.promise;
    const promise = first.kind === 'lock' ? this.fill(userId, first.generation, first.lockToken, load) : this.wait(userId, load);
    const entry = { generation: first.generation, promise };
    this.inflight.set(userId, entry);
    const forget = (): void => {
      if (this.inflight.get(userId) === entry) this.inflight.delete(userId);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** A cached answer, counted: `null` (a user known to have no link) apart. */
  private found(json: LoadedJson): LoadedJson {
    this.options.onEvent?.(json === 'null' ? 'negative_hit' : 'hit');
    return json;
  }

  /** Drops the user's list; a fill already running will not store what it read. */
  async invalidate(userId: string): Promise<void> {
    await guard(
      this.redis
        .multi()
        .set(this.keys.connectionsGeneration(userId), randomToken(16), 'EX', GENERATION_TTL_SECONDS)
        .del(this.keys.connectionsCache(userId))
        .exec(),
      this.options.onStoreError,
      'cache_invalidate',
    );
  }

  private async acquire(userId: string): Promise<Acquired> {
    const lockToken = randomToken(16);
    const reply = (await guard(
      this.redis.eval(ACQUIRE, 3, ...this.scriptKeys(userId), lockToken, String(this.options.lockMs)),
      this.options.onStoreError,
      'cache_acquire',
    )) as [string, string, string];
    const [kind, generation, cached] = reply;
    if (kind === 'hit') {
      const hit = parse(cached);
      // Unreadable: written by someone else just now; wait for the next look.
      return hit === undefined ? { kind: 'busy', generation, lockToken } : { kind: 'hit', json: hit };
    }
    return { kind: kind === 'lock' ? 'lock' : 'busy', generation, lockToken };
  }

  private async fill(userId: string, generation: string, lockToken: string, load: () => Promise<Loaded>): Promise<LoadedJson> {
    let json: LoadedJson;
    try {
      json = JSON.stringify(await load());
    } catch (err: unknown) {
      await this.release(userId, lockToken).catch(() => undefined);
      throw err;
    }
    await guard(
      this.redis.eval(STORE, 3, ...this.scriptKeys(userId), generation, json, String(this.options.ttlSeconds), lockToken),
      this.options.onStoreError,
      'cache_store',
    );
    return json;
  }

  /** KEYS of ACQUIRE and STORE; one hash tag, so one Cluster slot. */
  private scriptKeys(userId: string): [string, string, string] {
    return [this.keys.connectionsCache(userId), this.keys.connectionsGeneration(userId), this.keys.connectionsLock(userId)];
  }

  private async release(userId: string, lockToken: string): Promise<void> {
    await deleteIfEqual(this.redis, this.keys.connectionsLock(userId), lockToken, this.options.onStoreError, 'cache_release');
  }

  /**
   * Another instance is filling: poll until its answer is cached. When the lock is gone without
   * an answer (the holder failed, died, or its answer was outdated), take the lock and fill.
   */
  private async wait(userId: string, load: () => Promise<Loaded>): Promise<LoadedJson> {
    const deadline = Date.now() + 2 * this.options.lockMs;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
      const next = await this.acquire(userId);
      if (next.kind === 'hit') return next.json;
      if (next.kind === 'lock') return this.fill(userId, next.generation, next.lockToken, load);
      // A lock that outlives its own expiry means Redis misbehaves: answer without the cache.
      if (Date.now() > deadline) return JSON.stringify(await load());
    }
  }
}

/**
 * The JSON text of a cached entry (`null` for a user with no token, else the views), or
 * undefined when it is not an array or null. Only that outer shape is checked, not the whole
 * text: fill() wrote it with JSON.stringify, and parsing it on every hit would cost more than
 * the rest of the cache's work. So Redis is trusted with the integrity of this entry as it is
 * with sessions and pending flows (whoever can write to Redis can forge those too); it is never
 * trusted with a secret (tokens are sealed).
 */
function parse(value: string | null): LoadedJson | undefined {
  if (value === null) return undefined;
  return value === 'null' || (value.startsWith('[') && value.endsWith(']')) ? value : undefined;
}
