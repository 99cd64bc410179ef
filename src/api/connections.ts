import { AppError } from '../errors.js';
import type { PowensClient } from '../powens/client.js';
import { toConnectionView, type ConnectionView } from '../powens/status.js';
import type { Keys } from '../storage/keys.js';
import type { RedisClient } from '../storage/redis.js';
import type { StoredToken, TokenStore } from '../storage/tokens.js';
import { ConnectionsCache, type ConnectionsCacheOptions } from './connections-cache.js';

export interface ConnectionsAnswer {
  linked: boolean;
  connections: ConnectionView[];
}

const NOT_LINKED_JSON = JSON.stringify({ linked: false, connections: [] } satisfies ConnectionsAnswer);

/**
 * A user's bank connections as the frontend sees them, and the changes it may make. A token
 * Powens refuses (401/403) is dropped: the user is then simply not linked. Lists are served from
 * a short per-user cache; every change made here, by a flow or by a webhook invalidates it.
 */
export class ConnectionsService {
  private readonly cache: ConnectionsCache;

  constructor(
    private readonly tokens: TokenStore,
    private readonly powens: PowensClient,
    redis: RedisClient,
    keys: Keys,
    cacheOptions: ConnectionsCacheOptions = { ttlSeconds: 0, lockMs: 5000 },
  ) {
    this.cache = new ConnectionsCache(redis, keys, cacheOptions);
  }

  /** The user's list as the JSON text of a ConnectionsAnswer, ready to send. */
  async listJson(userId: string): Promise<string> {
    const views = await this.cache.get(userId, () => this.load(userId));
    // Spliced as text: the cache holds the views' JSON exactly as JSON.stringify wrote it.
    return views === 'null' ? NOT_LINKED_JSON : `{"linked":true,"connections":${views}}`;
  }

  private async load(userId: string): Promise<ConnectionView[] | null> {
    const stored = await this.tokens.get(userId);
    if (stored === null) return null;
    const raw = await this.withToken(userId, stored, (t) => this.powens.listConnections(t));
    return raw === null ? null : raw.map(toConnectionView);
  }

  async remove(userId: string, connectionId: number): Promise<void> {
    const stored = await this.tokens.get(userId);
    if (stored === null) throw new AppError('CONNECTION_NOT_FOUND');
    const done = await this.withToken(userId, stored, async (t) => {
      await this.powens.deleteConnection(t, connectionId);
      return true;
    });
    await this.invalidate(userId);
    if (done === null) throw new AppError('CONNECTION_NOT_FOUND');
  }

  /** Deletes the Powens user, then the stored token. Unlinking twice is not an error. */
  async unlink(userId: string): Promise<void> {
    const stored = await this.tokens.get(userId);
    if (stored === null) return;
    await this.withToken(userId, stored, async (t) => {
      await this.powens.deleteUser(t);
      return true;
    });
    await this.tokens.deleteIfCurrent(userId, stored);
    await this.invalidate(userId);
  }

  async invalidate(userId: string): Promise<void> {
    await this.cache.invalidate(userId);
  }

  /** Runs `use` with the token; on 401/403 drops the token and answers null. */
  private async withToken<T>(userId: string, stored: StoredToken, use: (token: string) => Promise<T>): Promise<T | null> {
    try {
      return await use(stored.token);
    } catch (err: unknown) {
      if (err instanceof AppError && err.code === 'POWENS_TOKEN_INVALID') {
        await this.tokens.deleteIfCurrent(userId, stored);
        await this.invalidate(userId);
        return null;
      }
      throw err;
    }
  }
}
