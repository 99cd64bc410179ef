import type { TokenKey } from '../config.js';
import { AppError } from '../errors.js';
import type { Keys } from './keys.js';
import { deleteIfEqual, guard, type RedisClient, type StoreErrorObserver } from './redis.js';
import { open, seal, SealError } from './seal.js';

/** What the service keeps per app user. The whole record is sealed; Redis never sees it clear. */
export interface StoredToken {
  token: string;
  powensUserId: number | null;
  createdAt: string;
}

interface SealedPayload {
  t: string;
  u: number | null;
  c: string;
}

export class TokenStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly tokenKeys: readonly TokenKey[],
    private readonly onStoreError?: StoreErrorObserver,
  ) {}

  static aad(userId: string): string {
    return `token:${userId}`;
  }

  sealRecord(userId: string, record: StoredToken): string {
    const payload: SealedPayload = { t: record.token, u: record.powensUserId, c: record.createdAt };
    return seal(JSON.stringify(payload), TokenStore.aad(userId), this.tokenKeys);
  }

  openRecord(userId: string, sealed: string): StoredToken {
    try {
      const p = JSON.parse(open(sealed, TokenStore.aad(userId), this.tokenKeys)) as SealedPayload;
      return { token: p.t, powensUserId: p.u, createdAt: p.c };
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
    return guard(this.redis.get(this.keys.token(userId)), this.onStoreError);
  }

  async get(userId: string): Promise<StoredToken | null> {
    const sealed = await this.getSealed(userId);
    return sealed === null ? null : this.openRecord(userId, sealed);
  }

  /**
   * Stores the token unless one exists already; false means another flow won the race. True once
   * the token is stored, even if the Powens user index could not be written after it: a caller
   * told "failed" then would discard (delete at Powens) the very user whose token is now stored.
   * The index only serves webhook lookups; its failure is counted by the store error observer.
   */
  async putIfAbsent(userId: string, record: StoredToken): Promise<boolean> {
    const sealed = this.sealRecord(userId, record);
    const ok = await guard(this.redis.set(this.keys.token(userId), sealed, 'NX'), this.onStoreError);
    if (ok !== 'OK') return false;
    if (record.powensUserId !== null) {
      await guard(this.redis.set(this.keys.powensUser(record.powensUserId), userId), this.onStoreError).catch(() => undefined);
    }
    return true;
  }

  /** Removes the user's token only if it is still `expected` (compare-and-delete). */
  async deleteIfCurrent(userId: string, expected: StoredToken): Promise<boolean> {
    const sealed = await this.getSealed(userId);
    if (sealed === null) return false;
    const current = this.openRecord(userId, sealed);
    if (current.token !== expected.token) return false;
    const removed = await deleteIfEqual(this.redis, this.keys.token(userId), sealed, this.onStoreError);
    if (removed && current.powensUserId !== null) {
      await guard(this.redis.del(this.keys.powensUser(current.powensUserId)), this.onStoreError);
    }
    return removed;
  }

  /** The app user a Powens user id belongs to (webhooks name users by Powens id). */
  async userForPowensId(powensUserId: number): Promise<string | null> {
    return guard(this.redis.get(this.keys.powensUser(powensUserId)), this.onStoreError);
  }
}
