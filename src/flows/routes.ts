import { Router, type Request, type Response } from 'express';
import type { Authenticator } from '../auth/user.js';
import { requireUser, currentUser, hasCookie } from '../auth/user.js';
import type { Config } from '../config.js';
import { safeEqual } from '../crypto.js';
import { AppError, type ErrorCode } from '../errors.js';
import { parseId, singleParam } from '../http/params.js';
import { safeReturnTo, withQuery } from '../http/return-to.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { PowensClient } from '../powens/client.js';
import { sessionOp } from '../storage/session.js';
import type { StoredToken, TokenStore } from '../storage/tokens.js';
import type { FlowKind, FlowStore, PendingFlow } from './state.js';
import { webviewLang, webviewUrl } from './webview.js';

export interface FlowDeps {
  config: Config;
  auth: Authenticator;
  flows: FlowStore;
  tokens: TokenStore;
  powens: PowensClient;
  metrics: Metrics;
  logger: Logger;
  sessionCookie: string;
  /** Called whenever a user's connections changed (cache invalidation). */
  onConnectionsChanged: (userId: string) => Promise<void>;
  now: () => number;
}

const MAX_ERROR_DESCRIPTION = 300;

/** The webview's error codes with their own message; any other code gets the generic one. */
const WEBVIEW_ERRORS: ReadonlyMap<string, ErrorCode> = new Map<string, ErrorCode>([
  ['access_denied', 'FLOW_CANCELLED'],
  ['tos_declined', 'FLOW_TOS_DECLINED'],
  ['server_error', 'FLOW_POWENS_ERROR'],
]);

function startPath(kind: FlowKind, returnTo: string, connectionId: number | null): string {
  const base = kind === 'reconnect' ? `/reconnect/${connectionId ?? ''}` : `/${kind}`;
  return returnTo === '/' ? base : withQuery(base, 'return_to', returnTo);
}

/** The session follows the signed-in user: a different user gets a fresh session id (fixation). */
async function bindSession(req: Request, userId: string): Promise<void> {
  const session = req.session;
  if (session.userId !== undefined && session.userId !== userId) {
    const demoUserId = session.demoUserId;
    await sessionOp(req, 'regenerate');
    if (demoUserId !== undefined) req.session.demoUserId = demoUserId;
  }
  req.session.userId = userId;
}

interface CallbackParams {
  code: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
  connectionIdText: string | undefined;
  connectionIdsText: string | undefined;
}

/** The callback's parameters besides `state`; a repeated, structured or oversized one is a 400. */
function callbackParams(q: unknown): CallbackParams {
  return {
    code: singleParam(q, 'code', 4096),
    error: singleParam(q, 'error', 256),
    errorDescription: singleParam(q, 'error_description', 8192),
    connectionIdText: singleParam(q, 'connection_id', 32),
    connectionIdsText: singleParam(q, 'connection_ids', 4096),
  };
}

export function flowRouter(deps: FlowDeps): Router {
  const { config, powens, tokens, flows, metrics } = deps;
  const router = Router();

  /** The stored token if Powens still accepts it; a token Powens refuses is dropped. */
  async function usable(userId: string, stored: StoredToken | null, use: (token: string) => Promise<string>): Promise<string | null> {
    if (stored === null) return null;
    try {
      return await use(stored.token);
    } catch (err: unknown) {
      if (err instanceof AppError && err.code === 'POWENS_TOKEN_INVALID') {
        await tokens.deleteIfCurrent(userId, stored);
        await deps.onConnectionsChanged(userId);
        deps.logger.warn({ errorCode: err.code }, 'stored Powens token refused by Powens; dropped');
        return null;
      }
      throw err;
    }
  }

  function start(kind: FlowKind) {
    return async (req: Request, res: Response): Promise<void> => {
      res.locals.route = kind === 'reconnect' ? '/reconnect/:connectionId' : `/${kind}`;
      const userId = currentUser(res);
      const returnTo = safeReturnTo(singleParam(req.query, 'return_to', 2048));
      let connectionId: number | null = null;
      if (kind === 'reconnect') {
        const id = parseId(String(req.params.connectionId ?? ''));
        if (id === undefined) throw new AppError('CONNECTION_NOT_FOUND', { retryPath: '/' });
        connectionId = id;
      }
      const retryPath = startPath(kind, returnTo, connectionId);
      try {
        const stored = await tokens.get(userId);
        // A returning user opens the webview with a temporary code, so the new connection
        // joins the same Powens user instead of creating a second one.
        const code = await usable(userId, stored, async (token) => {
          if (connectionId !== null) await powens.getConnection(token, connectionId);
          return powens.temporaryCode(token, 'singleAccess');
        });
        if (code === null && kind !== 'connect') throw new AppError('NOT_LINKED', { retryPath: '/connect' });
        // Only now, once the flow will start: a refused request must not leave a session behind.
        await bindSession(req, userId);
        // The flow and the session are independent writes: sent together, they cost one wait
        // for Redis instead of two. Should one fail, the other is harmless (an unused flow
        // expires; a saved session only names its user) and the answer is a 503 either way.
        const [state] = await Promise.all([
          flows.create(req.sessionID, { userId, kind, returnTo, connectionId, withCode: code !== null }),
          sessionOp(req, 'save'),
        ]);
        const location = webviewUrl(config, webviewLang(config, req), kind, {
          state,
          ...(code !== null ? { code } : {}),
          ...(connectionId !== null ? { connectionId } : {}),
        });
        // A bare 302: res.redirect would negotiate a body from the Accept header (a third of the
        // cost of Express's part of the request) that no browser shows for a redirect.
        res.statusCode = 302;
        res.setHeader('Cache-Control', 'no-store');
        res.setHeader('Location', location);
        res.end();
      } catch (err: unknown) {
        if (err instanceof AppError && err.retryPath === undefined) err.retryPath = retryPath;
        throw err;
      }
    };
  }

  const page = requireUser(deps.auth, config, 'page');
  // Express answers HEAD with the GET handler; on these routes that would mint a temporary code
  // and burn or create a flow for a request whose answer nobody reads.
  router.head(['/connect', '/reconnect/:connectionId', '/manage', '/callback'], (_req, res) => {
    res.setHeader('Allow', 'GET');
    throw new AppError('METHOD_NOT_ALLOWED');
  });
  router.get('/connect', page, start('connect'));
  router.get('/reconnect/:connectionId', page, start('reconnect'));
  router.get('/manage', page, start('manage'));

  router.get('/callback', async (req, res) => {
    res.locals.route = '/callback';
    try {
      const flow = await callback(req, res);
      metrics.flowOutcomes.inc({ flow: flow.kind, result: 'ok' });
    } catch (err: unknown) {
      const code = err instanceof AppError ? err.code : 'INTERNAL';
      // The kind is known as soon as the state matched a flow, also when the flow then fails.
      const kind: unknown = res.locals.flowKind;
      metrics.flowOutcomes.inc({ flow: typeof kind === 'string' ? kind : 'unknown', result: code });
      if (err instanceof AppError && err.retryPath === undefined) err.retryPath = '/connect';
      throw err;
    }
  });

  async function callback(req: Request, res: Response): Promise<PendingFlow> {
    const q = req.query;
    const state = singleParam(q, 'state', 512);
    let params: CallbackParams;
    try {
      params = callbackParams(q);
    } catch (err: unknown) {
      // A callback that names a pending flow spends it, whatever else is wrong with it
      // (CONTRACT section 5: consumed on first use, success or not).
      if (err instanceof AppError && state !== undefined && state !== '' && hasCookie(req, deps.sessionCookie)) {
        const spent = await flows.consume(req.sessionID, state);
        if (spent !== null) {
          res.locals.flowKind = spent.kind;
          err.retryPath = startPath(spent.kind, spent.returnTo, spent.connectionId);
        }
      }
      throw err;
    }
    const { code, error, errorDescription, connectionIdText, connectionIdsText } = params;

    if (!hasCookie(req, deps.sessionCookie)) {
      throw new AppError('SESSION_COOKIE_MISSING', {
        logDetail: {
          hint: 'the browser did not send the session cookie back: check PUBLIC_URL (https and Secure cookies), TRUST_PROXY and the proxy forwarding cookies',
          secureCookies: config.secureCookies,
          protocolSeen: req.protocol,
        },
      });
    }
    if (state === undefined || state === '') throw new AppError('STATE_MISSING');
    const flow = await flows.consume(req.sessionID, state);
    if (flow === null) throw new AppError('STATE_INVALID');
    res.locals.flowKind = flow.kind;
    const retry = (e: AppError): AppError => {
      e.retryPath = startPath(flow.kind, flow.returnTo, flow.connectionId);
      return e;
    };

    const userId = await deps.auth.userId(req);
    if (userId === null) throw retry(new AppError('USER_REQUIRED'));
    if (!safeEqual(userId, flow.userId)) throw retry(new AppError('FLOW_USER_MISMATCH'));

    if (error !== undefined) {
      const known = /^[a-z0-9_.-]{1,64}$/i.test(error) ? error : 'unrecognised';
      throw retry(
        // A Map, not an object: `error=constructor` or `error=__proto__` must not find a prototype member.
        new AppError(WEBVIEW_ERRORS.get(known) ?? 'FLOW_FAILED', {
          logDetail: {
            webviewError: known,
            // Technical text from Powens: logged (capped, as data), never rendered.
            description: errorDescription?.slice(0, MAX_ERROR_DESCRIPTION),
          },
        }),
      );
    }

    // A reconnect returns only `state` at Powens: the connection is the one the flow was started for.
    const connectionId =
      flow.kind === 'reconnect' ? (flow.connectionId ?? undefined) : (parseId(connectionIdText) ?? parseId(connectionIdsText?.split(',')[0]));
    if (flow.kind === 'connect' && !flow.withCode) {
      if (code === undefined || code === '') throw retry(new AppError('CODE_MISSING'));
      try {
        await link(userId, code);
      } catch (err: unknown) {
        throw err instanceof AppError ? retry(err) : err;
      }
    }
    await deps.onConnectionsChanged(userId);
    const back = flow.kind !== 'manage' && connectionId !== undefined ? withQuery(flow.returnTo, 'connection_id', String(connectionId)) : flow.returnTo;
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(303, back);
    return flow;
  }

  /**
   * First connection of a user: exchange the code (server-side, with the secret) and store the
   * token, unless another tab stored one meanwhile. Then the Powens user just created is a
   * duplicate: it is deleted with its own token, and the person is asked to try again.
   */
  async function link(userId: string, code: string): Promise<void> {
    const token = await powens.exchangeCode(code);
    let powensUserId: number | null = null;
    try {
      powensUserId = (await powens.currentUser(token)).id;
    } catch (err: unknown) {
      // The token is good; only the webhook lookup by Powens user id will miss this user.
      deps.logger.warn({ errorCode: err instanceof AppError ? err.code : 'unknown' }, 'could not read the new Powens user id');
    }
    let stored: boolean;
    try {
      stored = await tokens.putIfAbsent(userId, { token, powensUserId, createdAt: new Date(deps.now()).toISOString() });
    } catch (err: unknown) {
      await discard(token);
      throw err;
    }
    if (!stored) {
      await discard(token);
      throw new AppError('LINK_RACE');
    }
  }

  async function discard(token: string): Promise<void> {
    try {
      await powens.deleteUser(token);
    } catch (err: unknown) {
      deps.logger.error({ errorCode: err instanceof AppError ? err.code : 'unknown' }, 'could not delete a duplicate Powens user');
    }
  }

  return router;
}
