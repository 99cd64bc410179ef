import type { TokenKey } from '../config.js';
import { randomToken } from '../crypto.js';
import { AppError } from '../errors.js';
import type { Keys } from './keys.js';
import { deleteIfEqual, guard, type ReplicaWaiter, type RedisClient, type StoreErrorObserver } from './redis.js';
import { open, seal, SealError } from './seal.js';

/** What the service keeps per app user. The whole record is sealed; Redis never sees it clear. */
export interface StoredToken {
  token: string;
  powensUserId: number | null;
  createdAt: string;
  /** The write that stored the record (TokenWrite); absent on records stored before write ids existed. */
  writeId?: string;
}

interface SealedPayload {
  t: string;
  u: number | null;
  c: string;
  w?: string;
}

/**
 * What became of one write of a user's first token:
 * - `stored`: it ran and stored the record (the user had none);
 * - `refused`: it ran and stored nothing, another record was there (another tab won);
 * - `cancelled`: it had not run when its outcome was asked (`settle`), so it never will.
 */
export type WriteStatus = 'stored' | 'refused' | 'cancelled';

export interface WriteResult {
  status: WriteStatus;
  /** The replicas required (REDIS_MIN_REPLICAS) acknowledged what the script wrote or read. */
  durable: boolean;
}

/** One write of a user's first token, named by a random write id that is sealed inside the record. */
export interface TokenWrite {
  readonly userId: string;
  readonly writeId: string;
  readonly record: StoredToken;
  readonly sealed: string;
}

/**
 * How long the fate of a write is kept. A write whose answer was lost may still run long after
 * (a command sent to a paused Redis waits in the socket buffer and runs when Redis resumes, even
 * once the client has reconnected); its fate, recorded first, makes it a no-op. A day is far past
 * any reconcile (docs/REFERENCE.md, "Storage").
 */
export const WRITE_FATE_TTL_SECONDS = 24 * 3600;

// KEYS: token, fate. ARGV: sealed record, fate TTL. Stores the record unless the user has one,
// or unless this write was already settled ('cancelled'), and records what it did.
const STORE = `
local fate = redis.call('GET', KEYS[2])
if fate then return fate end
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], 'stored', 'EX', ARGV[2])
  return 'stored'
end
redis.call('SET', KEYS[2], 'refused', 'EX', ARGV[2])
return 'refused'`;

// KEYS: token, fate. ARGV: fate TTL. The outcome of a write whose answer was lost; one that has
// not run is cancelled before it can. Always writes (the fate again), so that a WAIT after it
// covers what it read, whichever connection the write itself went through.
const SETTLE = `
local fate = redis.call('GET', KEYS[2]) or 'cancelled'
redis.call('SET', KEYS[2], fate, 'EX', ARGV[1])
return fate`;

// KEYS: token, fate. ARGV: the token key's value when it is this write's record, else '';
// fate TTL. Removes this write's record and cancels the write; 0 if the record changed since it
// was read (re-sealed by a key rotation), so the caller reads it again.
const UNDO = `
if ARGV[1] ~= '' then
  if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('SET', KEYS[2], 'cancelled', 'EX', ARGV[2])
return 1`;

export interface TokenStoreOptions {
  onStoreError?: StoreErrorObserver;
  /** Acknowledgements by replicas; none asked when absent (offline tools). */
  replicas?: ReplicaWaiter;
}

/**
 * Sealed tokens per app user, and the one way a first token is written (`write`, `settle`,
 * `undo`): never over another record, durable before the caller reports success, and with an
 * answer for every write whose outcome is unknown.
 */
export class TokenStore {
  private readonly onStoreError: StoreErrorObserver | undefined;
  private readonly replicas: ReplicaWaiter | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly tokenKeys: readonly TokenKey[],
    options: TokenStoreOptions | StoreErrorObserver = {},
  ) {
    const opts = typeof options === 'function' ? { onStoreError: options } : options;
    this.onStoreError = opts.onStoreError;
    this.replicas = opts.replicas;
  }

  static aad(userId: string): string {
    return `token:${userId}`;
  }

  sealRecord(userId: string, record: StoredToken): string {
    const payload: SealedPayload = {
      t: record.token,
      u: record.powensUserId,
      c: record.createdAt,
      ...(record.writeId !== undefined ? { w: record.writeId } : {}),
    };
    return seal(JSON.stringify(payload), TokenStore.aad(userId), this.tokenKeys);
  }

  openRecord(userId: string, sealed: string): StoredToken {
    try {
      const p = JSON.parse(open(sealed, TokenStore.aad(userId), this.tokenKeys)) as SealedPayload;
      return { token: p.t, powensUserId: p.u, createdAt: p.c, ...(typeof p.w === 'string' ? { writeId: p.w } : {}) };
    } catch (err: unknown) {
      // A token we cannot open is an operator problem (a key removed from TOKEN_ENCRYPTION_KEYS
      // too early); answering "not linked" would make the user create a second Powens user.
      throw new AppError('INTERNAL', {
        cause: err,
        logDetail: { reason: err instanceof SealError ? err.message : 'token record unreadable' },
      });
    }
  }

  async getSealed(userId: string): Promise<string | null> {
    return guard(this.redis.get(this.keys.token(userId)), this.onStoreError, 'token_read');
  }

  async get(userId: string): Promise<StoredToken | null> {
    const sealed = await this.getSealed(userId);
    return sealed === null ? null : this.openRecord(userId, sealed);
  }

  /** A write of `record` for `userId`, not sent yet: its id names it in `write`, `settle` and `undo`. */
  prepare(userId: string, record: Omit<StoredToken, 'writeId'>): TokenWrite {
    const writeId = randomToken(16);
    const full: StoredToken = { ...record, writeId };
    return { userId, writeId, record: full, sealed: this.sealRecord(userId, full) };
  }

  /**
   * Stores the record unless the user has one (or the write was cancelled by a `settle` that ran
   * first), with the Powens user index beside it, then asks the replicas to acknowledge both.
   * Throws STORE_UNAVAILABLE when the answer is lost: the write may have run, or may still run;
   * only `settle` can tell. The index serves webhook lookups and the refusal of callbacks that
   * name a linked Powens user; its failure alone does not fail the write (it is counted).
   */
  async write(w: TokenWrite): Promise<WriteResult> {
    const tokenKey = this.keys.token(w.userId);
    const mark = this.replicas?.mark(tokenKey);
    const powensUserId = w.record.powensUserId;
    // Sent together: one wait for Redis rather than two.
    const [status] = await Promise.all([
      this.script(STORE, w, w.sealed, String(WRITE_FATE_TTL_SECONDS)),
      powensUserId === null
        ? undefined
        : guard(this.redis.set(this.keys.powensUser(powensUserId), w.userId), this.onStoreError, 'user_index_write').catch(() => undefined),
    ]);
    const durable = status !== 'stored' || mark === undefined || this.replicas === undefined || (await this.replicas.acknowledged(mark, tokenKey));
    return { status, durable };
  }

  /**
   * What became of a write whose answer was lost (`write` threw): `stored`, `refused`, or
   * `cancelled` when it had not run, which this call makes final. `durable` tells whether the
   * replicas acknowledged that state: a `stored` write may be told to the user only then.
   */
  async settle(w: TokenWrite): Promise<WriteResult> {
    const tokenKey = this.keys.token(w.userId);
    const mark = this.replicas?.mark(tokenKey);
    const status = await this.script(SETTLE, w, String(WRITE_FATE_TTL_SECONDS));
    const durable = mark === undefined || this.replicas === undefined || (await this.replicas.acknowledged(mark, tokenKey));
    return { status, durable };
  }

  /**
   * Takes a stored write back: removes its record if the token key still holds it (whatever key
   * sealed it since) and cancels the write. True once the replicas acknowledged that; false
   * when they did not (the removal may be lost with its master: ask again). Throws on failure.
   */
  async undo(w: TokenWrite): Promise<boolean> {
    const tokenKey = this.keys.token(w.userId);
    const mark = this.replicas?.mark(tokenKey);
    for (let attempt = 0; ; attempt++) {
      const current = await this.getSealed(w.userId);
      const ours = current !== null && this.openRecord(w.userId, current).writeId === w.writeId;
      const done = await guard(
        this.redis.eval(UNDO, 2, tokenKey, this.keys.tokenWrite(w.userId, w.writeId), ours ? current : '', String(WRITE_FATE_TTL_SECONDS)),
        this.onStoreError,
        'token_undo',
      );
      if (done === 1) break;
      if (attempt >= 3) throw new AppError('STORE_UNAVAILABLE', { logDetail: { reason: 'token record kept changing during undo' } });
    }
    if (w.record.powensUserId !== null) await this.dropIndex(w.record.powensUserId, w.userId);
    return mark === undefined || this.replicas === undefined || this.replicas.acknowledged(mark, tokenKey);
  }

  /** Writes the Powens user index entry (idempotent): a write kept after a reconcile may have lost its own. */
  async putIndex(powensUserId: number, userId: string): Promise<void> {
    await guard(this.redis.set(this.keys.powensUser(powensUserId), userId), this.onStoreError, 'user_index_write');
  }

  /** Removes the Powens user index entry if it still names `userId`; best effort (a stale entry names a deleted Powens user). */
  async dropIndex(powensUserId: number, userId: string): Promise<void> {
    await deleteIfEqual(this.redis, this.keys.powensUser(powensUserId), userId, this.onStoreError, 'user_index_delete').catch(() => undefined);
  }

  /**
   * Stores the record unless one exists already; false means another flow won. For seeding
   * (tests, tools): the link flows use `write` and handle every outcome.
   */
  async putIfAbsent(userId: string, record: StoredToken): Promise<boolean> {
    return (await this.write(this.prepare(userId, record))).status === 'stored';
  }

  /** Removes the user's token only if it is still `expected` (compare-and-delete). */
  async deleteIfCurrent(userId: string, expected: StoredToken): Promise<boolean> {
    const sealed = await this.getSealed(userId);
    if (sealed === null) return false;
    const current = this.openRecord(userId, sealed);
    if (current.token !== expected.token) return false;
    const removed = await deleteIfEqual(this.redis, this.keys.token(userId), sealed, this.onStoreError, 'token_delete');
    if (removed && current.powensUserId !== null) {
      await guard(this.redis.del(this.keys.powensUser(current.powensUserId)), this.onStoreError, 'user_index_delete');
    }
    return removed;
  }

  /** The app user a Powens user id belongs to (webhooks name users by Powens id). */
  async userForPowensId(powensUserId: number): Promise<string | null> {
    return guard(this.redis.get(this.keys.powensUser(powensUserId)), this.onStoreError, 'user_index_read');
  }

  private async script(lua: string, w: TokenWrite, ...args: string[]): Promise<WriteStatus> {
    const answer = await guard(
      this.redis.eval(lua, 2, this.keys.token(w.userId), this.keys.tokenWrite(w.userId, w.writeId), ...args),
      this.onStoreError,
      'token_write',
    );
    if (answer === 'stored' || answer === 'refused' || answer === 'cancelled') return answer;
    throw new AppError('STORE_UNAVAILABLE', { logDetail: { reason: 'unexpected answer of a token script' } });
  }
}
