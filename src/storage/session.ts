import { RedisStore } from 'connect-redis';
import session, { type SessionData } from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { Config } from '../config.js';
import { randomToken } from '../crypto.js';
import type { Keys } from './keys.js';
import { redisSpan, reportTiming, storeError, type RedisClient, type RedisOperation, type StoreErrorObserver } from './redis.js';
import { failSpan } from '../tracing.js';
import { safeError } from '../logging.js';

declare module 'express-session' {
  interface SessionData {
    /** The app user this session belongs to; a change of user regenerates the session. */
    userId?: string;
    /** Demo mode only: the id typed on the sign-in page. */
    demoUserId?: string;
    /**
     * Set on a session that only binds a browser to its pending flows: when the newest of them
     * expires (ms since the epoch), and the session with it.
     */
    flowsUntil?: number;
  }
}

type Callback = (err?: unknown, data?: SessionData | null) => void;

/**
 * connect-redis hands raw ioredis errors to express-session; mapping them here, at the
 * boundary, makes a Redis outage a 503 like every other store failure.
 */
class GuardedRedisStore extends RedisStore {
  constructor(
    options: ConstructorParameters<typeof RedisStore>[0],
    private readonly onStoreError?: StoreErrorObserver,
  ) {
    super(options);
  }

  override get(sid: string, cb?: Callback): Promise<unknown> {
    return super.get(sid, this.done('session_get', cb));
  }
  override set(sid: string, sess: SessionData, cb?: Callback): Promise<unknown> {
    return super.set(sid, sess, this.done('session_set', cb));
  }
  override touch(sid: string, sess: SessionData, cb?: Callback): Promise<unknown> {
    return super.touch(sid, sess, this.done('session_touch', cb));
  }
  override destroy(sid: string, cb?: Callback): Promise<unknown> {
    return super.destroy(sid, this.done('session_destroy', cb));
  }

  /** The callback connect-redis calls: times the operation, ends its span, maps its failure. */
  private done(operation: RedisOperation, cb: Callback | undefined): Callback {
    const started = performance.now();
    const span = redisSpan(operation);
    return (err?: unknown, data?: SessionData | null) => {
      reportTiming(this.onStoreError, operation, started);
      const mapped = err ? storeError(err, this.onStoreError) : undefined;
      if (mapped !== undefined) failSpan(span, mapped.code);
      span.end();
      cb?.(mapped, data);
    };
  }
}

export function sessionCookieName(config: Config): string {
  // `__Host-` pins the cookie to this exact host, path / and Secure: a sibling subdomain cannot
  // plant or overwrite it.
  return config.secureCookies ? '__Host-powens-bff.sid' : 'powens-bff.sid';
}

export function createSessionMiddleware(config: Config, redis: RedisClient, keys: Keys, onStoreError?: StoreErrorObserver): RequestHandler {
  const middleware = session({
    name: sessionCookieName(config),
    secret: config.sessionSecrets,
    store: new GuardedRedisStore({ client: redis, prefix: keys.sessionPrefix, ttl: config.sessionTtlSeconds }, onStoreError),
    // 192 bits like express-session's own ids (uid-safe), from the CSPRNG (crypto.ts).
    genid: () => randomToken(24),
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'destroy',
    // No `proxy` option: express-session then asks Express (req.secure), which believes
    // X-Forwarded-Proto only from the addresses TRUST_PROXY names. `proxy: true` would believe
    // it from any client, and send the Secure cookie over a connection that is plain http.
    cookie: {
      httpOnly: true,
      // Lax, not Strict: the return from the Powens webview is a cross-site top-level
      // navigation, and Strict would drop the cookie exactly there.
      sameSite: 'lax',
      secure: config.secureCookies,
      path: '/',
      maxAge: config.sessionTtlSeconds * 1000,
    },
  });
  /**
   * express-session calls `next` once, then may call it again after the response, from its own
   * end-of-request work (saving, touching or destroying the session) when the store fails, as
   * it does all the time while Redis is down. That late call comes through a `next` whose
   * router has already run to its end: Express takes it as an unhandled error and destroys the
   * connection under a client that got its complete 503. Such a late failure is logged, not
   * passed on. A session that could not even be loaded is not "destroyed" at the end either
   * (with unset: 'destroy' express-session would try, since there is no req.session).
   */
  return (req, res, next) => {
    let called = false;
    middleware(req, res, (err?: unknown) => {
      if (called) {
        req.log?.warn({ err: safeError(err) }, 'session store failed after the response');
        return;
      }
      called = true;
      if (err !== undefined && err !== null) Reflect.deleteProperty(req, 'sessionID');
      next(err);
    });
  };
}

/**
 * A session that only binds a browser to its pending flows (no sign-in of its own) lives as long
 * as the newest of them, not SESSION_TTL_SECONDS: cookie and Redis key both. express-session
 * takes a per-session cookie.maxAge (kept in the stored session as originalMaxAge, so every later
 * touch renews it by that much), and connect-redis sets the key's TTL from the cookie's expiry.
 * `flowsUntil` changes with each flow, so express-session sends the cookie again with its new
 * expiry (it sends a known session's cookie only when the session changed). Returns the expiry.
 */
export function endWithFlows(req: Request, flowTtlMs: number): number {
  req.session.cookie.maxAge = flowTtlMs;
  const until = req.session.cookie.expires?.getTime() ?? Date.now() + flowTtlMs;
  req.session.flowsUntil = until;
  return until;
}

/** When the session's cookie (and so its Redis key) expires, in ms since the epoch. */
export function sessionExpiry(req: Request, config: Config): number {
  return req.session.cookie.expires?.getTime() ?? Date.now() + config.sessionTtlSeconds * 1000;
}

type SessionOp = 'regenerate' | 'save' | 'destroy';

/** express-session's callback methods as promises; a store failure rejects (a 503 upstream). */
export function sessionOp(req: Request, op: SessionOp): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // express-session hands store failures on as they come: Errors (AppError from the guarded store).
    req.session[op]((err: unknown) => (err ? reject(err as Error) : resolve()));
  });
}
