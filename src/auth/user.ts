import type { Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { safeReturnTo } from '../http/return-to.js';
import { userRef, userRefKey } from '../crypto.js';
import { logContext } from '../logging.js';

/**
 * Who the app's user is. Each mode answers a user id, null when there is none, or throws
 * USER_ID_INVALID when one is given but is not an acceptable id.
 */
export interface Authenticator {
  readonly mode: Config['auth']['mode'];
  userId(req: Request): Promise<string | null>;
}

// Printable: letters, marks, digits, punctuation, symbols and the plain space. No control,
// format (zero-width, bidi override), private-use or unassigned characters, no other spaces.
const USER_ID = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]{1,128}$/u;

export function isValidUserId(value: string): boolean {
  return USER_ID.test(value) && value.trim() === value;
}

export function checkUserId(value: string): string {
  if (!isValidUserId(value)) throw new AppError('USER_ID_INVALID');
  return value;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The user id of the trusted header. Node joins a repeated header into one string with ", "
 * (`alice, bob` would pass as an id): the distinct values are read instead, and more than one is
 * a 400, never a guess. Node also reads header bytes as latin1, so a proxy's UTF-8 id (`josé`)
 * would arrive as mojibake (`josÃ©`), a different user, or with C1 controls a wrongful 400: the
 * bytes are decoded as UTF-8, and bytes that are not UTF-8 are a 400.
 */
function headerUserId(req: Request, name: string): string | null {
  const values = req.headersDistinct[name];
  if (values === undefined || values.length === 0) return null;
  const [raw] = values;
  if (values.length > 1 || raw === undefined) throw new AppError('USER_ID_INVALID', { logDetail: { reason: 'repeated user id header' } });
  let decoded: string;
  try {
    decoded = UTF8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    throw new AppError('USER_ID_INVALID', { logDetail: { reason: 'user id header is not UTF-8' } });
  }
  return checkUserId(decoded);
}

/** Express's compiled TRUST_PROXY (`app.set('trust proxy', ...)` compiles it once, with proxy-addr). */
type TrustFn = (address: string, hop: number) => boolean;

const UNTRUSTED_WARN_MS = 60_000;
/** Peers remembered for the once-a-minute warning; past this the oldest are forgotten (bounded memory). */
const UNTRUSTED_PEERS_MAX = 1000;

/**
 * Once per peer and minute: a client that is not a listed proxy sending the identity header is
 * either a misconfigured TRUST_PROXY or someone trying to be another user; either way the
 * operator must hear of it, but a flood of such requests must not flood the log nor grow memory.
 * `shouldWarn(peer)` answers whether to log now; at most UNTRUSTED_PEERS_MAX peers are
 * remembered (the oldest warnings are forgotten first).
 */
export function untrustedPeerWarner(now: () => number = Date.now): { shouldWarn(peer: string): boolean; size(): number } {
  const lastWarned = new Map<string, number>();
  return {
    size: () => lastWarned.size,
    shouldWarn: (peer) => {
      const at = now();
      const last = lastWarned.get(peer);
      if (last !== undefined && at - last < UNTRUSTED_WARN_MS) return false;
      lastWarned.delete(peer);
      // Map keeps insertion order: the first entries are the oldest warnings.
      for (const [key, when] of lastWarned) {
        if (lastWarned.size < UNTRUSTED_PEERS_MAX && at - when < UNTRUSTED_WARN_MS) break;
        lastWarned.delete(key);
      }
      lastWarned.set(peer, at);
      return true;
    },
  };
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * The user is resolved once per request, whoever asks first (the per-user rate limit, then
 * requireUser, then a handler): in jwt mode each ask would otherwise verify the token again.
 */
export function createAuthenticator(config: Config): Authenticator {
  const inner = resolveUser(config);
  const resolved = new WeakMap<Request, Promise<string | null>>();
  const first = config.tokenKeys[0];
  const refOf = first === undefined ? undefined : userRefs(userRefKey(first.key));
  return {
    mode: inner.mode,
    userId: (req) => {
      let user = resolved.get(req);
      if (user === undefined) {
        user = inner.userId(req);
        const context = logContext();
        // Once per request, when the user becomes known: every later line of the request names
        // it by its reference (logging.ts), never by its id.
        if (context !== undefined && refOf !== undefined) {
          user = user.then((id) => {
            if (id !== null) context.userRef = refOf(id);
            return id;
          });
        }
        resolved.set(req, user);
      }
      return user;
    },
  };
}

/** Users whose reference is remembered; past this the oldest are forgotten (bounded memory). */
const USER_REFS_MAX = 10_000;

/**
 * userRef with the last references computed remembered: an HMAC costs a few microseconds (a
 * new Hmac object each time), a Map lookup a fraction of one, and the same users come back.
 */
function userRefs(key: Buffer): (userId: string) => string {
  const known = new Map<string, string>();
  return (userId) => {
    let ref = known.get(userId);
    if (ref === undefined) {
      ref = userRef(key, userId);
      if (known.size >= USER_REFS_MAX) {
        // Map keeps insertion order: the first key is the oldest.
        const oldest = known.keys().next();
        if (oldest.done !== true) known.delete(oldest.value);
      }
      known.set(userId, ref);
    }
    return ref;
  };
}

function resolveUser(config: Config): Authenticator {
  const auth = config.auth;
  switch (auth.mode) {
    case 'header': {
      const warner = untrustedPeerWarner();
      return {
        mode: 'header',
        // Rejects rather than throws, like the other modes: callers may rely on .catch.
        userId: (req) =>
          new Promise((resolve) => {
            // The peer is the socket's address, never X-Forwarded-For: the header is believed
            // only when the proxy that set it is the one talking to us.
            const peer = req.socket.remoteAddress;
            const trusted = req.app.get('trust proxy fn') as TrustFn;
            if (peer === undefined || !trusted(peer, 0)) {
              if (req.headersDistinct[auth.header] !== undefined && warner.shouldWarn(peer ?? 'unknown')) {
                req.log?.warn(
                  { peer: peer ?? 'unknown', header: auth.header },
                  'identity header ignored: the peer is not a proxy listed in TRUST_PROXY (no user for this request)',
                );
              }
              resolve(null);
              return;
            }
            resolve(headerUserId(req, auth.header));
          }),
      };
    }
    case 'demo':
      return {
        mode: 'demo',
        userId: (req) => Promise.resolve(req.session?.demoUserId ?? null),
      };
    case 'jwt': {
      const verify = jwtVerifier(auth);
      return {
        mode: 'jwt',
        userId: async (req) => {
          const token = bearer(req) ?? (auth.cookie !== undefined ? cookie(req, auth.cookie) : undefined);
          if (token === undefined) return null;
          let payload: JWTPayload;
          try {
            payload = await verify(token);
          } catch (err: unknown) {
            if (err instanceof AppError) throw err;
            // A refused token is no user (401), never an error page with details for an attacker.
            req.log?.info({ reason: err instanceof joseErrors.JOSEError ? err.code : 'unknown' }, 'JWT rejected');
            return null;
          }
          if (typeof payload.sub !== 'string' || payload.sub === '') return null;
          return checkUserId(payload.sub);
        },
      };
    }
  }
}

type JwtAuth = Extract<Config['auth'], { mode: 'jwt' }>;

/** Tokens whose key id the JWKS lacks, or that no key fits, are the token's fault; anything else is ours. */
const TOKEN_KEY_ERRORS = [joseErrors.JWKSNoMatchingKey, joseErrors.JWKSMultipleMatchingKeys, joseErrors.JOSENotSupported];

/**
 * Verifies signature, expiry (required), not-before, issuer and audience. The allowed algorithms
 * are pinned by mode, so neither `alg: none` nor an HS256 token "signed" with a public key of the
 * JWKS can pass. The JWKS is cached and fetched again on an unknown key id (a key rotation), at
 * most once per cool-down; a JWKS that cannot be fetched or read is AUTH_UNAVAILABLE (503), not a
 * reason to sign the user out.
 */
function jwtVerifier(auth: JwtAuth): (token: string) => Promise<JWTPayload> {
  const options: JWTVerifyOptions = {
    issuer: auth.issuer,
    audience: auth.audience,
    clockTolerance: 5,
    requiredClaims: ['exp'],
  };
  if (auth.secret !== undefined) {
    const secret = auth.secret;
    return async (token) => (await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
  }
  if (auth.jwksUrl === undefined) throw new Error('AUTH_MODE=jwt needs AUTH_JWT_SECRET or AUTH_JWKS_URL');
  const remote = createRemoteJWKSet(auth.jwksUrl, {
    cacheMaxAge: 10 * 60 * 1000,
    cooldownDuration: auth.jwksCooldownSeconds * 1000,
    timeoutDuration: 5000,
  });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err: unknown) {
      if (TOKEN_KEY_ERRORS.some((type) => err instanceof type)) throw err;
      throw new AppError('AUTH_UNAVAILABLE', {
        cause: err,
        logDetail: { reason: 'the JWKS could not be fetched or read', code: err instanceof joseErrors.JOSEError ? err.code : undefined },
      });
    }
  };
  return async (token) => (await jwtVerify(token, getKey, { ...options, algorithms: ASYMMETRIC })).payload;
}

function bearer(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(h);
  return m?.[1];
}

/** Every value of the cookie `name`, in the order the browser sent them. */
function cookies(req: Request, name: string): string[] {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return [];
  const found: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      try {
        found.push(decodeURIComponent(value));
      } catch {
        found.push(value);
      }
    }
  }
  return found;
}

/**
 * The token cookie. Browsers send every cookie of that name the page may see, from the host
 * and from parent domains (a sibling subdomain can set one for the whole site); taking the
 * first would let such a cookie sign the victim in as the attacker, and link the victim's bank
 * to the attacker's account. Two of them are refused, as a repeated identity header is.
 */
function cookie(req: Request, name: string): string | undefined {
  const values = cookies(req, name);
  if (values.length > 1) throw new AppError('CREDENTIALS_AMBIGUOUS', { logDetail: { reason: 'repeated token cookie', cookies: values.length } });
  return values[0];
}

export function hasCookie(req: Request, name: string): boolean {
  return cookies(req, name).length > 0;
}

/**
 * Requires a user. Browser routes without one go to the app's login (or the demo sign-in) with
 * a return path, else a 401 page; JSON routes answer 401.
 */
export function requireUser(auth: Authenticator, config: Config, format: 'page' | 'json'): RequestHandler {
  return async (req, res, next) => {
    const userId = await auth.userId(req);
    if (userId !== null) {
      res.locals.userId = userId;
      next();
      return;
    }
    if (format === 'page' && req.method === 'GET') {
      const back = safeReturnTo(req.originalUrl);
      if (auth.mode === 'demo') {
        res.redirect(302, `/demo/sign-in?return_to=${encodeURIComponent(back)}`);
        return;
      }
      if (config.appLoginUrl !== undefined) {
        const target = config.appLoginUrl.startsWith('/') ? new URL(config.appLoginUrl, config.publicUrl) : new URL(config.appLoginUrl);
        const returnTo = config.appLoginUrl.startsWith('/') ? back : new URL(back, config.publicUrl).href;
        target.searchParams.set('return_to', returnTo);
        res.redirect(302, config.appLoginUrl.startsWith('/') ? `${target.pathname}${target.search}` : target.href);
        return;
      }
    }
    throw new AppError('USER_REQUIRED');
  };
}

/** The user requireUser found; a handler behind requireUser always has one. */
export function currentUser(res: Response): string {
  const id = res.locals.userId;
  if (id === undefined) throw new AppError('USER_REQUIRED');
  return id;
}
