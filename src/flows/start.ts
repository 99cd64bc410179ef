import type { Request, RequestHandler } from 'express';
import { currentUser } from '../auth/user.js';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { AppError } from '../errors.js';
import { parseId, singleParam } from '../http/params.js';
import { safeReturnTo, withQuery } from '../http/return-to.js';
import { FLOW_TTL_MS, type FlowKind, type FlowStore } from '../storage/flows.js';
import { endWithFlows, sessionExpiry, sessionOp } from '../storage/session.js';
import type { UserSessions } from '../storage/user-sessions.js';
import { startPath } from './links.js';
import { webviewLang, webviewUrl } from './webview.js';

export interface StartDeps {
  config: Config;
  flows: FlowStore;
  connections: Connections;
  sessions: UserSessions;
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
    // An app's own bank picker: a malformed uuid is a 400 before anything is stored or asked of Powens.
    const connectorUuids = kind === 'connect' ? connectorUuidsParam(req.query) : [];
    const start = badId ? undefined : startPath(kind, returnTo, connectionId);
    res.locals.page = {
      retryPath: start !== undefined && connectorUuids.length > 0 ? withConnectorUuids(start, connectorUuids) : start,
      retryAction: kind,
      backTo: returnTo,
    };
    if (badId) throw new AppError('CONNECTION_NOT_FOUND');

    // A first /connect in POWENS_LINK_MODE=init creates the Powens user here (POST /auth/init).
    const minted = await deps.connections.webviewCode(userId, connectionId, kind === 'connect');
    const code = minted?.code ?? null;
    if (code === null && kind !== 'connect') {
      // Nothing to reconnect or manage: the page's next step is adding a bank, not this flow again.
      res.locals.page = { retryPath: startPath('connect', returnTo, null), retryAction: 'add', backTo: returnTo };
      throw new AppError('NOT_LINKED');
    }
    // Only now, once the flow will start: a refused request must not leave a session behind.
    await bindSession(req, userId);
    // A session without a sign-in of its own (header and jwt modes) exists only for its flows:
    // it ends with the newest of them. The demo's signed-in session keeps its own length.
    const expiresAt = req.session.demoUserId === undefined ? endWithFlows(req, FLOW_TTL_MS) : sessionExpiry(req, deps.config);
    // The flow, the session and the user's set of sessions are independent writes: sent
    // together, they cost one wait for Redis instead of three. Should one fail, the others are
    // harmless (an unused flow expires; a saved session only names its user; an entry in the set
    // expires with the session) and the answer is a 503 either way.
    const [state] = await Promise.all([
      deps.flows.create(req.sessionID, { userId, kind, returnTo, connectionId, withCode: code !== null }),
      sessionOp(req, 'save'),
      deps.sessions.track(userId, req.sessionID, expiresAt),
    ]);
    const location = webviewUrl(deps.config, webviewLang(deps.config, req), kind, {
      state,
      ...(code !== null ? { code } : {}),
      ...(connectionId !== null ? { connectionId } : {}),
      ...(connectorUuids.length > 0 ? { connectorUuids } : {}),
      ...(minted?.resetCredentials === true ? { resetCredentials: true } : {}),
    });
    // res.redirect, not a hand-written bare 302: that one earned a median 4 % of /connect over
    // eight runs of `npm run bench` (components), under the 5 % rule (docs/PERFORMANCE.md).
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, location);
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CONNECTOR_UUIDS = 50;

/**
 * `connector_uuid` of /connect: repeatable (a comma-separated value is read as several), each a
 * UUID, at most 50; lower-cased, duplicates dropped. Anything else is a 400: a picker that sends
 * a wrong value must not silently open the full bank list instead.
 */
function connectorUuidsParam(query: unknown): string[] {
  const raw: unknown = typeof query === 'object' && query !== null ? (query as Record<string, unknown>).connector_uuid : undefined;
  if (raw === undefined) return [];
  const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const uuids = new Set<string>();
  for (const value of values) {
    if (typeof value !== 'string' || value.length > 2048) throw new AppError('BAD_REQUEST', { logDetail: { param: 'connector_uuid', reason: 'not a string' } });
    for (const part of value.split(',')) {
      const uuid = part.trim().toLowerCase();
      if (!UUID.test(uuid)) throw new AppError('BAD_REQUEST', { logDetail: { param: 'connector_uuid', reason: 'not a UUID' } });
      uuids.add(uuid);
    }
  }
  if (uuids.size > MAX_CONNECTOR_UUIDS) throw new AppError('BAD_REQUEST', { logDetail: { param: 'connector_uuid', reason: 'too many', count: uuids.size } });
  return [...uuids];
}

/** The start path with the same connectors (comma-separated, read back as several), for the "try again" link. */
function withConnectorUuids(path: string, uuids: readonly string[]): string {
  return withQuery(path, 'connector_uuid', uuids.join(','));
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
