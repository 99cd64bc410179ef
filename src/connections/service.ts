import { safeEqual } from '../crypto.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { PowensClient } from '../powens/client.js';
import { needsNewCredentials, toConnectionView, type ConnectionView, type ViewOptions } from '../powens/status.js';
import type { StoredToken, TokenStore } from '../storage/tokens.js';
import type { ConnectionsCache } from './cache.js';

export interface ConnectionsAnswer {
  linked: boolean;
  connections: ConnectionView[];
}

const NOT_LINKED_JSON = JSON.stringify({ linked: false, connections: [] } satisfies ConnectionsAnswer);

export interface ConnectionsDeps {
  tokens: TokenStore;
  powens: PowensClient;
  cache: ConnectionsCache;
  logger: Logger;
  now: () => number;
  /** How Powens' dates and consent ends are read (POWENS_TIMEZONE, CONSENT_WARNING_DAYS). */
  views: Omit<ViewOptions, 'now'>;
}

/** What opens the webview for an existing Powens user. */
export interface WebviewCode {
  /** A single-use temporary code of the user's Powens user. */
  code: string;
  /** A reconnect of a connection whose credentials the bank refused: the webview asks for new ones. */
  resetCredentials: boolean;
}

/**
 * A user's bank connections: the stored Powens token, its use against Powens, and the cached
 * list the frontend reads. The one place that knows two rules every caller depends on:
 * - a token Powens refuses (401/403, or its user gone) is dropped: the user is then simply not
 *   linked, and the next /connect creates a new Powens user;
 * - whatever changes a user's connections (a flow, an unlink, a dropped token, a webhook) calls
 *   `changed`, so the next list is read from Powens again.
 * Flows, the JSON API and webhooks all go through here; none of them touches the token store.
 */
export class Connections {
  constructor(private readonly deps: ConnectionsDeps) {}

  /** The user's list as the JSON text of a ConnectionsAnswer, ready to send. */
  async listJson(userId: string): Promise<string> {
    const views = await this.deps.cache.get(userId, () => this.load(userId));
    // Spliced as text: the cache holds the views' JSON exactly as JSON.stringify wrote it.
    return views === 'null' ? NOT_LINKED_JSON : `{"linked":true,"connections":${views}}`;
  }

  /**
   * A single-use temporary code to open the webview for the user's Powens user (so a new
   * connection joins it instead of creating a second user), or null when the user has no usable
   * token. With a connection id, that connection must exist (CONNECTION_NOT_FOUND otherwise),
   * and its state says whether the reconnect must reset the credentials.
   */
  async webviewCode(userId: string, connectionId: number | null): Promise<WebviewCode | null> {
    return this.withToken(userId, async (token) => {
      const connection = connectionId === null ? null : await this.deps.powens.getConnection(token, connectionId);
      const code = await this.deps.powens.temporaryCode(token, 'singleAccess');
      return { code, resetCredentials: connection !== null && needsNewCredentials(connection) };
    });
  }

  /**
   * First connection of a user: exchange the webview's code (server-side, with the secret) and
   * store the token, unless another tab stored one meanwhile. Then the Powens user just created
   * is a duplicate: it is deleted with its own token, and the person is asked to try again.
   */
  async linkWithCode(userId: string, code: string): Promise<void> {
    const { powens, tokens, logger } = this.deps;
    const token = await powens.exchangeCode(code);
    let powensUserId: number | null = null;
    try {
      powensUserId = (await powens.currentUser(token)).id;
    } catch (err: unknown) {
      // The token is good; only the webhook lookup by Powens user id will miss this user.
      logger.warn({ errorCode: err instanceof AppError ? err.code : 'unknown' }, 'could not read the new Powens user id');
    }
    let stored: boolean;
    try {
      stored = await tokens.putIfAbsent(userId, { token, powensUserId, createdAt: new Date(this.deps.now()).toISOString() });
    } catch (err: unknown) {
      await this.discard(token);
      throw err;
    }
    if (!stored) {
      await this.discard(token);
      throw new AppError('LINK_RACE');
    }
  }

  async remove(userId: string, connectionId: number): Promise<void> {
    const stored = await this.deps.tokens.get(userId);
    if (stored === null) throw new AppError('CONNECTION_NOT_FOUND');
    const done = await this.use(userId, stored, async (token) => {
      await this.deps.powens.deleteConnection(token, connectionId);
      return true;
    });
    await this.changed(userId);
    if (done === null) throw new AppError('CONNECTION_NOT_FOUND');
  }

  /** Deletes the Powens user, then the stored token. Unlinking twice is not an error. */
  async unlink(userId: string): Promise<void> {
    const stored = await this.deps.tokens.get(userId);
    if (stored === null) return;
    await this.use(userId, stored, async (token) => {
      await this.deps.powens.deleteUser(token);
      return true;
    });
    await this.deps.tokens.deleteIfCurrent(userId, stored);
    await this.changed(userId);
  }

  /** The user's connections changed: the next list comes from Powens. */
  async changed(userId: string): Promise<void> {
    await this.deps.cache.invalidate(userId);
  }

  /** The app user linked to a Powens user (webhooks name users by their Powens id). */
  async appUserOf(powensUserId: number): Promise<string | null> {
    return this.deps.tokens.userForPowensId(powensUserId);
  }

  /** The app user whose stored token for that Powens user is `given` (bearer-authenticated webhooks). */
  async appUserWithToken(powensUserId: number, given: string): Promise<string | null> {
    const userId = await this.appUserOf(powensUserId);
    const stored = userId === null ? null : await this.deps.tokens.get(userId);
    if (userId === null || stored === null || stored.powensUserId !== powensUserId) return null;
    return safeEqual(given, stored.token) ? userId : null;
  }

  /** Powens deleted its user: forget the token, if it is still that Powens user's (the person may have linked again since). */
  async powensUserDeleted(userId: string, powensUserId: number): Promise<void> {
    const stored = await this.deps.tokens.get(userId);
    if (stored !== null && stored.powensUserId === powensUserId) await this.deps.tokens.deleteIfCurrent(userId, stored);
    await this.changed(userId);
  }

  private async load(userId: string): Promise<ConnectionView[] | null> {
    const raw = await this.withToken(userId, (token) => this.deps.powens.listConnections(token));
    if (raw === null) return null;
    // expiresSoon is decided now and cached with the list: it lags by at most the cache's TTL.
    const opts: ViewOptions = { ...this.deps.views, now: this.deps.now() };
    return raw.map((c) => toConnectionView(c, opts));
  }

  /** Runs `use` with the user's token; null when the user has none, or Powens refused it (dropped). */
  private async withToken<T>(userId: string, use: (token: string) => Promise<T>): Promise<T | null> {
    const stored = await this.deps.tokens.get(userId);
    return stored === null ? null : this.use(userId, stored, use);
  }

  /** The one place a token Powens refuses is dropped. */
  private async use<T>(userId: string, stored: StoredToken, use: (token: string) => Promise<T>): Promise<T | null> {
    try {
      return await use(stored.token);
    } catch (err: unknown) {
      if (err instanceof AppError && err.code === 'POWENS_TOKEN_INVALID') {
        await this.deps.tokens.deleteIfCurrent(userId, stored);
        await this.changed(userId);
        this.deps.logger.warn({ errorCode: err.code }, 'stored Powens token refused by Powens; dropped');
        return null;
      }
      throw err;
    }
  }

  private async discard(token: string): Promise<void> {
    try {
      await this.deps.powens.deleteUser(token);
    } catch (err: unknown) {
      this.deps.logger.error({ errorCode: err instanceof AppError ? err.code : 'unknown' }, 'could not delete a duplicate Powens user');
    }
  }
}
