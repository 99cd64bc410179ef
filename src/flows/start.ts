import type { Request, RequestHandler } from 'express';
import { currentUser } from '../auth/user.js';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { AppError } from '../errors.js';
import { parseId, singleParam } from '../http/params.js';
import { safeReturnTo } from '../http/return-to.js';
import type { FlowKind, FlowStore } from '../storage/flows.js';
import { sessionOp } from '../storage/session.js';
import { startPath } from './links.js';
import { webviewLang, webviewUrl } from './webview.js';

export interface StartDeps {
  config: Config;
  flows: FlowStore;
  connections: Connections;
}

/**
 * GET /connect, /reconnect/:connectionId and /manage: records a pending flow and sends the
 * browser to the Powens webview. A returning user's webview gets a temporary code, so a new
 * connection joins the same Powens user; reconnect and manage need one.
 */
export function startFlow(deps: StartDeps, kind: FlowKind): RequestHandler {
  return async (req, res) => {
    const userId = currentUser(res);
    // A path of this service or an absolute URL on RETURN_TO_ORIGINS; else the default landing.
    const returnTo = safeReturnTo(singleParam(req.query, 'return_to', 2048), deps.config.returnToOrigins);
    const connectionId = kind === 'reconnect' ? (parseId(String(req.params.connectionId ?? '')) ?? null) : null;
    const badId = kind === 'reconnect' && connectionId === null;
    res.locals.page = { retryPath: badId ? undefined : startPath(kind, returnTo, connectionId), retryAction: kind, backTo: returnTo };
    if (badId) throw new AppError('CONNECTION_NOT_FOUND');

    const code = await deps.connections.webviewCode(userId, connectionId);
    if (code === null && kind !== 'connect') throw new AppError('NOT_LINKED', { retryPath: startPath('connect', returnTo, null) });
    // Only now, once the flow will start: a refused request must not leave a session behind.
    await bindSession(req, userId);
    // The flow and the session are independent writes: sent together, they cost one wait
    // for Redis instead of two. Should one fail, the other is harmless (an unused flow
    // expires; a saved session only names its user) and the answer is a 503 either way.
    const [state] = await Promise.all([
      deps.flows.create(req.sessionID, { userId, kind, returnTo, connectionId, withCode: code !== null }),
      sessionOp(req, 'save'),
    ]);
    const location = webviewUrl(deps.config, webviewLang(deps.config, req), kind, {
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
  };
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
