import type { Request, RequestHandler, Response } from 'express';
import type { Authenticator } from '../auth/user.js';
import { hasCookie } from '../auth/user.js';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { safeEqual } from '../crypto.js';
import { AppError, type ErrorCode } from '../errors.js';
import { messagePage } from '../http/html.js';
import { parseId, singleParam } from '../http/params.js';
import { withQuery } from '../http/return-to.js';
import { languageOf, t } from '../i18n/index.js';
import { safeError } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { FLOW_TTL_MS, type FinishedFlow, type FlowStore, type PendingFlow } from '../storage/flows.js';
import { endWithFlows } from '../storage/session.js';
import type { UserSessions } from '../storage/user-sessions.js';
import { startPath } from './links.js';

export interface CallbackDeps {
  config: Config;
  auth: Authenticator;
  flows: FlowStore;
  connections: Connections;
  sessions: UserSessions;
  metrics: Metrics;
  sessionCookie: string;
}

const MAX_ERROR_DESCRIPTION = 300;

/** The webview's error codes with their own message; any other code gets the generic one. */
const WEBVIEW_ERRORS: ReadonlyMap<string, ErrorCode> = new Map<string, ErrorCode>([
  ['access_denied', 'FLOW_CANCELLED'],
  ['tos_declined', 'FLOW_TOS_DECLINED'],
  // The webview sat idle too long (official SDK's WebviewErrorCode; docs/POWENS-API.md).
  ['session_expired', 'FLOW_SESSION_EXPIRED'],
  ['server_error', 'FLOW_POWENS_ERROR'],
]);

/** The callback's query, read without throwing: the flow it names is spent whatever else is wrong. */
interface CallbackQuery {
  state: string | undefined;
  code: string | undefined;
  error: string | undefined;
  errorDescription: string | undefined;
  connectionIdText: string | undefined;
  connectionIdsText: string | undefined;
  /** The first problem found (a repeated, structured or oversized parameter): a 400. */
  problem: AppError | undefined;
}

/**
 * Every `code` of the query, however malformed the rest: a webview opened without a code created
 * a Powens user, and its code is the only handle on it (Connections.discardCodes).
 */
function codesOf(q: unknown): string[] {
  const raw: unknown = typeof q === 'object' && q !== null ? (q as Record<string, unknown>)['code'] : undefined;
  const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  return values.filter((v): v is string => typeof v === 'string' && v !== '' && v.length <= 4096);
}

function readQuery(q: unknown): CallbackQuery {
  let problem: AppError | undefined;
  const read = (name: string, maxLength: number): string | undefined => {
    try {
      return singleParam(q, name, maxLength);
    } catch (err: unknown) {
      if (!(err instanceof AppError)) throw err;
      problem ??= err;
      return undefined;
    }
  };
  // A bad `state` reads as none (undefined): it names no flow, so nothing is spent.
  return {
    state: read('state', 512),
    code: read('code', 4096),
    error: read('error', 256),
    errorDescription: read('error_description', 8192),
    connectionIdText: read('connection_id', 32),
    connectionIdsText: read('connection_ids', 4096),
    problem,
  };
}

/**
 * GET /callback ends every flow. The flow the state names is consumed first (single use,
 * success or not); then, in order: the query, the session cookie, the state, the user, the
 * webview's own error, and for a first connection the code exchange. The flow's outcome is
 * counted once, by kind and result. A code the callback does not hand to a first connection
 * (refused callback, or a flow that needs none) is still exchanged and its new Powens user
 * deleted, unless an app user is linked to it.
 */
export function finishFlow(deps: CallbackDeps): RequestHandler {
  return async (req, res) => {
    let kind: PendingFlow['kind'] | 'unknown' = 'unknown';
    let codeUsed = false;
    // App users this callback names: an exchanged code of theirs is revoked, never deleted.
    let flowUser: string | undefined;
    let signedIn: string | null = null;
    const discard = async (): Promise<void> => {
      const codes = codeUsed ? [] : codesOf(req.query);
      codeUsed = true;
      if (codes.length === 0) return;
      // Refused before the user was read (no cookie, no state): read now, for the check only.
      signedIn ??= await deps.auth.userId(req).catch(() => null);
      await deps.connections.discardCodes(codes, [flowUser, signedIn]);
    };
    try {
      const query = readQuery(req.query);
      const cookieSent = hasCookie(req, deps.sessionCookie);
      const flow = cookieSent && query.state !== undefined && query.state !== '' ? await deps.flows.consume(req.sessionID, query.state) : null;
      // Known from here on: "try again" restarts this very flow and the way back is its return_to;
      // an unknown one can only add a connection, and goes back to the default landing.
      res.locals.page =
        flow === null
          ? { retryPath: '/connect', retryAction: 'add' }
          : { retryPath: startPath(flow.kind, flow.returnTo, flow.connectionId), retryAction: flow.kind, backTo: flow.returnTo };
      if (flow !== null) {
        kind = flow.kind;
        flowUser = flow.userId;
      }

      if (query.problem !== undefined) throw query.problem;
      if (!cookieSent) throw cookieMissing(deps.config, req);
      if (query.state === undefined || query.state === '') throw new AppError('STATE_MISSING');
      if (flow === null) {
        // A reload of a callback that succeeded: say so, not "expired".
        const finished = await finishedBefore(deps, req, query.state);
        if (finished !== null) {
          sendFinished(deps.config, req, res, finished);
          return;
        }
        throw new AppError('STATE_INVALID');
      }
      const userId = await deps.auth.userId(req);
      signedIn = userId;
      if (userId === null) throw new AppError('USER_REQUIRED');
      if (!safeEqual(userId, flow.userId)) throw new AppError('FLOW_USER_MISMATCH');
      if (query.error !== undefined) throw webviewError(query.error, query.errorDescription);

      if (flow.kind === 'connect' && !flow.withCode) {
        if (query.code === undefined || query.code === '') throw new AppError('CODE_MISSING');
        codeUsed = true;
        await deps.connections.linkWithCode(userId, query.code);
      }
      await discard();
      await deps.connections.changed(userId);
      // A reconnect returns only `state` at Powens: the connection is the one the flow was started for.
      const connectionId =
        flow.kind === 'reconnect' ? (flow.connectionId ?? undefined) : (parseId(query.connectionIdText) ?? parseId(query.connectionIdsText?.split(',')[0]));
      const back = flow.kind !== 'manage' && connectionId !== undefined ? withQuery(flow.returnTo, 'connection_id', String(connectionId)) : flow.returnTo;
      // A reload of this callback is answered for FLOW_TTL_MS: a session that only carries flows
      // lives that long too (its cookie and key, renewed as the response ends, and its place among the user's sessions).
      const renewed = req.session.demoUserId === undefined ? deps.sessions.track(userId, req.sessionID, endWithFlows(req, FLOW_TTL_MS)) : undefined;
      await Promise.all([deps.flows.markFinished(req.sessionID, query.state, { userId, kind: flow.kind, back }), renewed]).catch((err: unknown) => {
        // Only a reload of this callback depends on them: the flow itself went well.
        req.log?.warn({ err: safeError(err) }, 'could not remember the finished flow');
      });
      res.setHeader('Cache-Control', 'no-store');
      res.redirect(303, back);
      deps.metrics.flowOutcomes.inc({ flow: flow.kind, result: 'ok' });
    } catch (err: unknown) {
      deps.metrics.flowOutcomes.inc({ flow: kind, result: err instanceof AppError ? err.code : 'INTERNAL' });
      await discard();
      throw err;
    }
  };
}

/** The flow this session finished well with `state`, if the user signed in now is the one who finished it. */
async function finishedBefore(deps: CallbackDeps, req: Request, state: string): Promise<FinishedFlow | null> {
  const finished = await deps.flows.finished(req.sessionID, state);
  if (finished === null) return null;
  const userId = await deps.auth.userId(req);
  return userId !== null && safeEqual(userId, finished.userId) ? finished : null;
}

function sendFinished(config: Config, req: Request, res: Response, finished: FinishedFlow): void {
  const lang = languageOf(config.powens.webviewLang, req.headers);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Language', lang);
  res.type('html').send(
    messagePage({
      lang,
      demo: config.auth.mode === 'demo',
      title: t(lang, `flow.done.${finished.kind}`),
      message: t(lang, 'flow.done.message'),
      links: [{ href: finished.back, label: t(lang, 'page.back'), action: 'back' }],
    }),
  );
}

/**
 * A guard of /callback (a rate limit, the session) that refuses the request before the handler
 * runs, because Redis cannot be reached (a 503): the codes the callback carries are cleaned up
 * all the same, or the webview's new Powens user would stay behind. A 429 is the bound on that
 * work and leaves them.
 */
export function callbackGuard(deps: Pick<CallbackDeps, 'auth' | 'connections'>, guard: RequestHandler): RequestHandler {
  return (req, res, next) => {
    let passed = false;
    const after = (err?: unknown): void => {
      if (passed) return;
      passed = true;
      const codes = err instanceof AppError && err.status !== 429 ? codesOf(req.query) : [];
      if (codes.length === 0) {
        next(err);
        return;
      }
      void deps.auth
        .userId(req)
        .catch(() => null)
        .then((signedIn) => deps.connections.discardCodes(codes, [signedIn]))
        .finally(() => next(err));
    };
    try {
      void Promise.resolve(guard(req, res, after)).catch(after);
    } catch (err: unknown) {
      after(err);
    }
  };
}

function cookieMissing(config: Config, req: Request): AppError {
  return new AppError('SESSION_COOKIE_MISSING', {
    logDetail: {
      hint: 'the browser did not send the session cookie back: check PUBLIC_URL (https and Secure cookies), TRUST_PROXY and the proxy forwarding cookies',
      secureCookies: config.secureCookies,
      protocolSeen: req.protocol,
    },
  });
}

function webviewError(error: string, description: string | undefined): AppError {
  const known = /^[a-z0-9_.-]{1,64}$/i.test(error) ? error : 'unrecognised';
  // A Map, not an object: `error=constructor` or `error=__proto__` must not find a prototype member.
  return new AppError(WEBVIEW_ERRORS.get(known) ?? 'FLOW_FAILED', {
    logDetail: {
      webviewError: known,
      // Technical text from Powens: logged (capped, as data), never rendered.
      description: description?.slice(0, MAX_ERROR_DESCRIPTION),
    },
  });
}
