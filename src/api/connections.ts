import { AppError } from '../errors.js';
import type { PowensClient } from '../powens/client.js';
import { toConnectionView, type ConnectionView } from '../powens/status.js';
import type { Keys } from '../storage/keys.js';
import { guard, type RedisClient } from '../storage/redis.js';
import type { StoredToken, TokenStore } from '../storage/tokens.js';

export interface ConnectionsAnswer {
  linked: boolean;
  connections: ConnectionView[];
}

const NOT_LINKED: ConnectionsAnswer = { linked: false, connections: [] };

/**
 * A user's bank connections as the frontend sees them, and the changes it may make. A token
 * Powens refuses (401/403) is dropped: the user is then simply not linked.
 */
export class ConnectionsService {
  constructor(
    private readonly tokens: TokenStore,
    private readonly powens: PowensClient,
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async list(userId: string): Promise<ConnectionsAnswer> {
    const stored = await this.tokens.get(userId);
    if (stored === null) return NOT_LINKED;
    const raw = await this.withToken(userId, stored, (t) => this.powens.listConnections(t));
    if (raw === null) return NOT_LINKED;
    return { linked: true, connections: raw.map(toConnectionView) };
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
    await guard(this.redis.del(this.keys.connectionsCache(userId)));
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
