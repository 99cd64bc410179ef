import { safeEqual } from '../crypto.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { PowensClient } from '../powens/client.js';
import { needsNewCredentials, toConnectionView, type ConnectionView, type ViewOptions } from '../powens/status.js';
import type { StoredToken, TokenStore, TokenWrite, WriteResult } from '../storage/tokens.js';
import type { ConnectionsCache } from './cache.js';
import { PowensUsers, Retrier, type DeleteReason, type Step } from './powens-users.js';

/** How a user's first connection creates their Powens user (POWENS_LINK_MODE). */
export type LinkMode = 'exchange' | 'init';

export interface ConnectionsAnswer {
  linked: boolean;
  connections: readonly ConnectionView[];
}

export interface ConnectionsDeps {
  tokens: TokenStore;
  powens: PowensClient;
  cache: ConnectionsCache;
  logger: Logger;
  now: () => number;
  /** How Powens' dates and consent ends are read (POWENS_TIMEZONE, CONSENT_WARNING_DAYS). */
  views: Omit<ViewOptions, 'now'>;
  metrics: Metrics;
  linkMode: LinkMode;
  /** How long a callback waits for the clean-up of the codes it refuses before leaving it to the background. */
  cleanupBudgetMs: number;
  /** Waits between the attempts of background work (default RETRY_DELAYS_MS). */
  retryDelaysMs?: readonly number[];
}

/** What opens the webview for an existing Powens user. */
export interface WebviewCode {
  /** A single-use temporary code of the user's Powens user. */
  code: string;
  /** A reconnect of a connection whose credentials the bank refused: the webview asks for new ones. */
  resetCredentials: boolean;
}

/** A first token being stored, with what its clean-up needs should it not be. */
interface PendingLink {
  w: TokenWrite;
  token: string;
  powensUserId: number;
  /** The deletion reason when another record was there first. */
  raceReason: DeleteReason;
  /** Kept if it turns out stored (the user was not told it was), or taken back (an unacknowledged write was). */
  intent: 'keep' | 'cancel';
  /** An undo was sent: its removal must be acknowledged by the replicas before the Powens user is deleted. */
  undone: boolean;
}

const STORE_FAILED = (logDetail: Record<string, unknown>, cause?: unknown): AppError =>
  new AppError('STORE_UNAVAILABLE', { retryAfter: 5, logDetail, ...(cause !== undefined ? { cause } : {}) });

function codeOf(err: unknown): string {
  return err instanceof AppError ? err.code : 'unknown';
}

/** An exchange that got no usable answer (unreachable, failing, unreadable): its code may not have been used. */
function mayBeUnused(err: unknown): boolean {
  return err instanceof AppError && (err.code === 'POWENS_UNAVAILABLE' || err.code === 'POWENS_BAD_RESPONSE');
}

/** Background work kept in this process at most; beyond it, refused callbacks' codes are left (logged). */
const MAX_PENDING_WORK = 1000;

/** At most this many codes of one refused callback are exchanged and cleaned up. */
const MAX_CODES_PER_CALLBACK = 2;

/**
 * A user's bank connections: the stored Powens token, its use against Powens, and the cached
 * list the frontend reads. The one place that knows two rules every caller depends on:
 * - a token Powens refuses (401/403, or its user gone) is dropped: the user is then simply not
 *   linked, and the next /connect creates a new Powens user;
 * - whatever changes a user's connections (a flow, an unlink, a dropped token, a webhook) calls
 *   `changed`, so the next list is read from Powens again.
 * Flows, the JSON API and webhooks all go through here; none of them touches the token store.
 *
 * It also keeps the rules of linking (README, "Choosing a link mode"; docs/REFERENCE.md, "GET /callback"):
 * - no orphaned Powens user: a Powens user the service comes to hold a token of is either
 *   stored for an app user or deleted, and the code of a refused callback is exchanged so that
 *   its new user can be deleted; one an app user is linked to is never deleted (only the extra
 *   token is revoked);
 * - nothing told linked that is not durable: a stored token is acknowledged by the replicas
 *   (REDIS_MIN_REPLICAS) before the user is told, else it is taken back;
 * - no write whose outcome is unknown is taken for failed: its fate is asked of Redis
 *   (TokenStore.settle) before anything is deleted, in the request if Redis answers, else in
 *   the background (Retrier).
 */
export class Connections {
  private readonly users: PowensUsers;
  private readonly retrier: Retrier;

  constructor(private readonly deps: ConnectionsDeps) {
    this.users = new PowensUsers(deps.powens, deps.metrics, deps.logger);
    this.retrier = new Retrier(deps.logger, deps.retryDelaysMs);
  }

  /**
   * The user's list, to be serialized by the API (res.json). Splicing the cache's text into the
   * answer unparsed earned under 5 % of a cached list's CPU time (`npm run bench`, components;
   * docs/PERFORMANCE.md). The views may be shared with concurrent requests of the same user
   * (the cache's single fill): never changed in place.
   */
  async list(userId: string): Promise<ConnectionsAnswer> {
    const views = await this.deps.cache.get(userId, () => this.load(userId));
    return views === null ? { linked: false, connections: [] } : { linked: true, connections: views };
  }

  /**
   * A single-use temporary code to open the webview for the user's Powens user (so a new
   * connection joins it instead of creating a second user), or null when the user has no usable
   * token. With a connection id, that connection must exist (CONNECTION_NOT_FOUND otherwise),
   * and its state says whether the reconnect must reset the credentials. With `create` in `init`
   * mode, a user with no token gets a Powens user first (POST /auth/init).
   */
  async webviewCode(userId: string, connectionId: number | null, create = false): Promise<WebviewCode | null> {
    const mint = async (token: string): Promise<WebviewCode> => {
      const connection = connectionId === null ? null : await this.deps.powens.getConnection(token, connectionId);
      const code = await this.deps.powens.temporaryCode(token, 'singleAccess');
      return { code, resetCredentials: connection !== null && needsNewCredentials(connection) };
    };
    const minted = await this.withToken(userId, mint);
    if (minted !== null || !create || this.deps.linkMode !== 'init') return minted;
    await this.initLink(userId);
    // The token stored now: this one, or the one another tab stored first (which wins).
    return this.withToken(userId, mint);
  }

  /**
   * First connection of a user (`exchange` mode): exchange the webview's code (server-side, with
   * the secret) and store the token, unless another tab stored one meanwhile. Then the Powens user
   * just created is a duplicate: it is deleted with its own token, and the person is asked to try
   * again. The token is stored only once its Powens user is known to be nobody's: a code that
   * names a Powens user an app user is linked to (a temporary code of theirs) only has its new
   * token revoked.
   */
  async linkWithCode(userId: string, code: string): Promise<void> {
    const { powens } = this.deps;
    let token: string;
    try {
      token = await powens.exchangeCode(code);
    } catch (err: unknown) {
      // No usable answer: the code may be unused still, and the Powens user the webview created
      // would stay. It is exchanged again in the background and cleaned up (a code Powens did
      // use is refused then: harmless). One whose answer was lost after Powens used it gives a
      // token nobody holds: the one gap of this mode (README, "Choosing a link mode").
      if (mayBeUnused(err)) void this.discardCode(code, [userId], 'later');
      throw err;
    }
    let powensUserId: number | null = null;
    let owner: string | null;
    try {
      powensUserId = (await powens.currentUser(token)).id;
      owner = await this.ownerOf(powensUserId, [userId], 'tolerant');
    } catch (err: unknown) {
      // Not stored without its id (the webhook lookups and the check above need it): found out and
      // deleted, or revoked, in the background (a dependency just failed: asking again at once
      // would only make this answer later).
      void this.release(token, powensUserId, [userId], 'later');
      throw err;
    }
    if (owner !== null) {
      await this.revokeNowOrLater(token, powensUserId);
      if (owner === userId) return;
      throw new AppError('FLOW_FAILED', { logDetail: { reason: 'the code names a Powens user another app user is linked to', powensUserId } });
    }
    this.users.created(powensUserId, 'exchange');
    if ((await this.storeNew(userId, token, powensUserId, 'link_race')) === 'refused') throw new AppError('LINK_RACE');
  }

  /**
   * The codes of a callback that will not use them (refused, or not a first connection): each is
   * exchanged anyway, and the Powens user it names deleted, unless an app user is linked to it
   * (then only the new token is revoked). A webview opened without a code creates a Powens user
   * whatever becomes of the callback; this is how it does not stay behind. `candidates`: app users
   * the callback names (the flow's, the signed-in one), checked besides the Powens user index.
   * Waits at most `cleanupBudgetMs`; the rest goes on in the background. Never throws.
   */
  async discardCodes(codes: readonly string[], candidates: readonly (string | null | undefined)[]): Promise<void> {
    if (this.retrier.pending() >= MAX_PENDING_WORK) {
      // A flood of refused callbacks while Powens or Redis is down: memory stays bounded.
      this.deps.logger.error({ pending: this.retrier.pending() }, 'too much background work pending: the code of a refused callback is left');
      return;
    }
    const users = [...new Set(candidates.filter((u): u is string => typeof u === 'string'))];
    const firsts = codes.slice(0, MAX_CODES_PER_CALLBACK).map((code) => this.discardCode(code, users, 'now'));
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.deps.cleanupBudgetMs);
      timer.unref();
    });
    await Promise.race([Promise.all(firsts), budget]);
    clearTimeout(timer);
  }

  /** Background work not finished yet (reconciles of token writes, deletions of Powens users). */
  pendingWork(): number {
    return this.retrier.pending();
  }

  /** Resolves when no background work is left. */
  async idle(): Promise<void> {
    await this.retrier.idle();
  }

  /** For a graceful stop: background work makes its last attempt now (see Retrier.drain); returns what is still running. */
  drain(budgetMs: number): Promise<number> {
    return this.retrier.drain(budgetMs);
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
      try {
        await this.deps.powens.deleteUser(token);
      } catch (err: unknown) {
        this.deps.metrics.powensUsersDeleted.inc({ reason: 'unlink', outcome: 'failed' });
        throw err;
      }
      this.deps.metrics.powensUsersDeleted.inc({ reason: 'unlink', outcome: 'ok' });
      this.deps.logger.info({ powensUserId: stored.powensUserId, reason: 'unlink' }, 'Powens user deleted');
      return true;
    });
    if (await this.deps.tokens.deleteIfCurrent(userId, stored)) this.deps.metrics.tokensDropped.inc({ reason: 'unlink' });
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
    if (stored !== null && stored.powensUserId === powensUserId && (await this.deps.tokens.deleteIfCurrent(userId, stored))) {
      this.deps.metrics.tokensDropped.inc({ reason: 'user_deleted_webhook' });
    }
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
        if (await this.deps.tokens.deleteIfCurrent(userId, stored)) this.deps.metrics.tokensDropped.inc({ reason: 'refused_by_powens' });
        await this.changed(userId);
        this.deps.logger.warn({ errorCode: err.code, powensUserId: stored.powensUserId }, 'stored Powens token refused by Powens; dropped');
        return null;
      }
      throw err;
    }
  }

  /** `init` mode: a new Powens user for `userId`, its token stored (or another stored first, which wins). */
  private async initLink(userId: string): Promise<void> {
    const created = await this.deps.powens.initUser();
    this.users.created(created.powensUserId, 'init');
    if (created.type !== 'permanent') {
      // Sent with the client's credentials, the token is permanent (docs.powens.com, "Authentication");
      // a temporary one would die within 30 minutes with its user.
      await this.deleteNowOrLater(created.token, created.powensUserId, 'store_failed');
      throw new AppError('POWENS_BAD_RESPONSE', { logDetail: { endpoint: 'auth.init', reason: `a ${created.type.slice(0, 16)} token` } });
    }
    // 'refused': a token appeared meanwhile (another tab); the new user was deleted, that one is used.
    await this.storeNew(userId, created.token, created.powensUserId, 'init_race');
  }

  /**
   * Stores the token of a Powens user just created for `userId`, durably and never over another
   * record. 'stored': acknowledged by the replicas, the user may be told. 'refused': another
   * record was there first; this Powens user is deleted (now, or by background retries).
   * Throws STORE_UNAVAILABLE when the token could not be made durable; its Powens user is then
   * deleted only once its record is known not to be stored (and never to be): asked of Redis in
   * this request if it answers, else in the background.
   */
  private async storeNew(userId: string, token: string, powensUserId: number, raceReason: DeleteReason): Promise<'stored' | 'refused'> {
    const { tokens, logger } = this.deps;
    const w = tokens.prepare(userId, { token, powensUserId, createdAt: new Date(this.deps.now()).toISOString() });
    const link: PendingLink = { w, token, powensUserId, raceReason, intent: 'keep', undone: false };
    const detail = { powensUserId, writeId: w.writeId };
    let result: WriteResult;
    try {
      result = await tokens.write(w);
    } catch (err: unknown) {
      // The write may have run, or may still run (a command sent to a paused Redis runs when it
      // resumes): deleting the Powens user now could leave a token of a deleted user. Ask.
      logger.warn({ ...detail, errorCode: codeOf(err) }, 'token write unanswered: asking Redis what became of it');
      try {
        result = await tokens.settle(w);
      } catch (settleErr: unknown) {
        this.reconcileLater(link);
        throw STORE_FAILED({ ...detail, reason: 'token write unanswered; settled in the background' }, settleErr);
      }
    }
    if (result.status === 'stored' && result.durable) return 'stored';
    if (result.status === 'stored') {
      // Stored, but no replica acknowledged it in time: a failover could lose it after the user
      // was told. Taken back, and the Powens user deleted once the removal is acknowledged.
      logger.warn(detail, 'token write not acknowledged by the replicas: taking it back');
      link.intent = 'cancel';
      link.undone = true;
      const undone = await tokens.undo(w).catch(() => false);
      if (!undone) {
        this.reconcileLater(link);
        throw STORE_FAILED({ ...detail, reason: 'token write not acknowledged; its removal settled in the background' });
      }
      await this.deleteNowOrLater(token, powensUserId, 'unconfirmed_write');
      throw STORE_FAILED({ ...detail, reason: 'token write not acknowledged by the replicas' });
    }
    // Not stored, and (refused, or cancelled before it ran) never will be.
    await tokens.dropIndex(powensUserId, userId);
    await this.deleteNowOrLater(token, powensUserId, result.status === 'refused' ? raceReason : 'store_failed');
    if (result.status === 'refused') return 'refused';
    throw STORE_FAILED({ ...detail, reason: 'token write cancelled before it ran' });
  }

  /** Settles a token write in the background: kept if it was stored (and acknowledged), else its Powens user deleted. */
  private reconcileLater(link: PendingLink): void {
    const { tokens, logger } = this.deps;
    const { w, token, powensUserId } = link;
    let reason: DeleteReason | undefined;
    const attempt = async (): Promise<Step> => {
      if (reason === undefined) {
        const r = await tokens.settle(w);
        if (r.status === 'stored' && link.intent === 'keep') {
          if (!r.durable) return 'again';
          await tokens.putIndex(powensUserId, w.userId);
          await this.changed(w.userId);
          logger.info({ powensUserId, writeId: w.writeId }, 'token write found stored after all: the link is kept');
          return 'done';
        }
        if (r.status === 'stored') {
          link.undone = true;
          if (!(await tokens.undo(w))) return 'again';
          reason = 'unconfirmed_write';
        } else if (r.status === 'cancelled' && link.undone) {
          // The removal of an earlier undo: it must be acknowledged before the user is deleted.
          if (!r.durable) return 'again';
          reason = 'unconfirmed_write';
        } else {
          reason = r.status === 'refused' ? link.raceReason : 'store_failed';
        }
        await tokens.dropIndex(powensUserId, w.userId);
      }
      return this.users.delete(token, powensUserId, reason);
    };
    void this.retrier.start('token write reconcile', () => ({ powensUserId, writeId: w.writeId }), attempt, 'later');
  }

  /** The Powens user of a token nobody will store: deleted now, or by background retries. */
  private async deleteNowOrLater(token: string, powensUserId: number, reason: DeleteReason): Promise<void> {
    await this.retrier.start(
      'Powens user deletion',
      () => ({ powensUserId, reason }),
      () => this.users.delete(token, powensUserId, reason),
      'now',
    );
  }

  private async revokeNowOrLater(token: string, powensUserId: number): Promise<void> {
    await this.retrier.start(
      'Powens token revocation',
      () => ({ powensUserId }),
      () => this.users.revoke(token, powensUserId),
      'now',
    );
  }

  /**
   * A token the service holds and will not store: its Powens user (found out with GET /users/me
   * when not known yet) is deleted, unless an app user is linked to it; then only this token is
   * revoked.
   */
  private async release(token: string, knownId: number | null, candidates: readonly string[], first: 'now' | 'later'): Promise<void> {
    let powensUserId = knownId;
    let owner: string | null | undefined;
    let counted = false;
    const attempt = async (): Promise<Step> => {
      if (powensUserId === null) {
        try {
          powensUserId = (await this.deps.powens.currentUser(token)).id;
        } catch (err: unknown) {
          // Refused: the token names no user any more; nothing left to delete.
          if (err instanceof AppError && err.code === 'POWENS_TOKEN_INVALID') return 'done';
          throw err;
        }
      }
      owner ??= await this.ownerOf(powensUserId, candidates, 'strict');
      if (owner !== null) return this.users.revoke(token, powensUserId);
      if (!counted) {
        this.users.created(powensUserId, 'exchange');
        counted = true;
      }
      return this.users.delete(token, powensUserId, 'refused_callback');
    };
    await this.retrier.start('release of a Powens token', () => ({ powensUserId }), attempt, first);
  }

  /** One code of a refused callback: exchanged (an unusable code created nothing we can reach), then released. */
  private discardCode(code: string, candidates: readonly string[], first: 'now' | 'later'): Promise<void> {
    let exchanges = 0;
    let token: string | undefined;
    let released = false;
    const attempt = async (): Promise<Step> => {
      if (token === undefined) {
        try {
          token = await this.deps.powens.exchangeCode(code);
        } catch (err: unknown) {
          exchanges += 1;
          // No usable answer: the code may still be good. A refusal (invalid, expired, already
          // exchanged) gives no token, so there is nothing this service can delete.
          if (mayBeUnused(err) && exchanges < 3) throw err;
          this.deps.logger.info({ errorCode: codeOf(err) }, 'the code of a refused callback could not be exchanged: nothing to clean up');
          return 'done';
        }
      }
      if (!released) {
        released = true;
        await this.release(token, null, candidates, 'now');
      }
      return 'done';
    };
    return this.retrier.start('clean-up of a refused callback code', () => ({}), attempt, first);
  }

  /**
   * The app user linked to this Powens user, if any: the one the Powens user index names, or one
   * of `candidates` whose stored token is of that Powens user (the index is written best effort).
   * Before a deletion the index must answer ('strict'); before a link, an index Redis refuses to
   * read (an ACL without that key family) leaves the candidates' check ('tolerant'): the link of
   * a new user must not depend on a lookup table.
   */
  private async ownerOf(powensUserId: number, candidates: readonly string[], index: 'strict' | 'tolerant'): Promise<string | null> {
    const indexed = await this.deps.tokens.userForPowensId(powensUserId).catch((err: unknown) => {
      if (index === 'strict') throw err;
      this.deps.logger.warn({ powensUserId, errorCode: codeOf(err) }, 'could not read the Powens user index; checked the signed-in user only');
      return null;
    });
    if (indexed !== null) return indexed;
    for (const userId of candidates) {
      if ((await this.deps.tokens.get(userId))?.powensUserId === powensUserId) return userId;
    }
    return null;
  }
}
