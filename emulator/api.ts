import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { CONNECTORS } from './connectors.js';
import type { EmulatorEndpoint, KnobPlan } from './knobs.js';
import { TEMPORARY_CODE_TTL_SECONDS, TEMPORARY_USER_TTL_SECONDS, type TemporaryCodeType } from './store.js';
import { type EmulatorClient, type EmulatorContext, findClient } from './types.js';
import { isRecord, randomToken, safeEqual } from './util.js';

/** Powens' error body. */
export interface PowensError {
  code: string;
  description: string;
  message: string;
  request_id: string;
}

export function powensError(code: string, message: string): PowensError {
  return { code, description: message, message, request_id: randomToken(12) };
}

export function sendPowensError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json(powensError(code, message));
}

/** The default error code for a status, used by the `fail` knob. */
export function defaultErrorCode(status: number): string {
  switch (status) {
    case 400:
      return 'invalidValue';
    case 401:
      return 'invalidToken';
    case 403:
      return 'forbidden';
    case 404:
      return 'notFound';
    case 409:
      return 'conflict';
    case 423:
      return 'connectionLocked';
    case 429:
      return 'tooManyRequests';
    case 503:
      return 'serviceUnavailable';
    default:
      return status >= 500 ? 'bug' : 'error';
  }
}

/** A truncated body per endpoint, for the `malformed` knob. */
const TRUNCATED_BODIES: Record<EmulatorEndpoint, string> = {
  'token.access': '{"auth_tok',
  'auth.init': '{"auth_token": "',
  'token.code': '{"code": "',
  'token.delete': '{"',
  'users.me': '{"id": 1, "sig',
  'users.delete': '{"',
  'connections.list': '{"connections": [{"id": 1, "sta',
  'connections.get': '{"id": 1, "state": nu',
  'connections.delete': '{"',
  'connectors.list': '{"connectors": [{"id": 59, "uu',
};

/** Waits `ms`, or less if the client goes away; resolves to whether the client is still there. */
function waitWhileConnected(ms: number, res: Response): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.once('close', onClose);
  });
}

/** A parameter from the body (JSON or form) or, failing that, the query string. */
function param(req: Request, name: string): string | undefined {
  const body: unknown = req.body;
  if (isRecord(body)) {
    const value = body[name];
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  }
  const query: unknown = req.query;
  if (isRecord(query)) {
    const value = query[name];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function wantsConnector(req: Request): boolean {
  const expand: unknown = req.query['expand'];
  const values = typeof expand === 'string' ? [expand] : Array.isArray(expand) ? expand : [];
  return values.some((v) => typeof v === 'string' && v.split(',').some((part) => part.trim() === 'connector'));
}

export function createApiRouter(ctx: EmulatorContext): Router {
  const router = express.Router();
  router.use(express.json({ limit: '64kb' }));
  router.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 100 }));

  /** Counts the call and applies the knobs of the endpoint before its handler. */
  function knobbed(endpoint: EmulatorEndpoint): RequestHandler {
    return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const traceparent = req.headers.traceparent;
      const plan: KnobPlan = ctx.registry.take(endpoint, typeof traceparent === 'string' ? traceparent : null);
      if (plan.delayMs > 0 && !(await waitWhileConnected(plan.delayMs, res))) return;
      const rule = plan.terminal;
      if (rule === undefined) {
        next();
        return;
      }
      switch (rule.kind) {
        case 'hang':
          // Never answer: the socket stays open until the client or the server closes it.
          return;
        case 'malformed':
          res.status(200).setHeader('Content-Type', 'application/json; charset=utf-8');
          res.end(TRUNCATED_BODIES[endpoint]);
          return;
        case 'fail': {
          res.status(rule.status);
          for (const [k, v] of Object.entries(rule.headers)) res.setHeader(k, v);
          if (rule.body === undefined) {
            res.json(powensError(defaultErrorCode(rule.status), `Emulated failure of ${endpoint}`));
          } else if (typeof rule.body === 'string') {
            if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json; charset=utf-8');
            res.end(rule.body);
          } else {
            res.json(rule.body);
          }
          return;
        }
      }
    };
  }

  /** The client, if `client_id` and `client_secret` are right; otherwise answers the error. */
  function authenticateClient(req: Request, res: Response, extra: readonly string[]): EmulatorClient | undefined {
    for (const name of ['client_id', 'client_secret', ...extra]) {
      const value = param(req, name);
      if (value === undefined || value === '') {
        sendPowensError(res, 400, 'missingParameter', `Missing parameter: ${name}`);
        return undefined;
      }
    }
    const client = findClient(ctx, param(req, 'client_id') ?? '');
    if (client === undefined || !safeEqual(param(req, 'client_secret') ?? '', client.clientSecret)) {
      sendPowensError(res, 401, 'invalidClient', 'Invalid client_id or client_secret');
      return undefined;
    }
    return client;
  }

  /** The user of the Bearer token; otherwise answers 401. */
  function authenticateUser(req: Request, res: Response): { userId: number; token: string } | undefined {
    const token = bearerToken(req);
    const userId = token === undefined ? undefined : ctx.store.userIdByToken(token);
    if (token === undefined || userId === undefined) {
      sendPowensError(res, 401, 'invalidToken', token === undefined ? 'Missing access token' : 'Invalid access token');
      return undefined;
    }
    return { userId, token };
  }

  /**
   * The code of a webview opened without one (an authorization code, bound to the client and its
   * redirect_uri), or a temporary code of GET /auth/token/code ("Exchange a temporary code for a
   * permanent user access token", docs.powens.com "Authentication"): a single-access code is
   * used up, a request-access one stays valid until it expires. Either way a new permanent token
   * (which also makes a temporary user permanent).
   */
  router.post('/auth/token/access', knobbed('token.access'), (req, res) => {
    const client = authenticateClient(req, res, ['code']);
    if (client === undefined) return;
    const grantType = param(req, 'grant_type');
    if (grantType !== undefined && grantType !== 'authorization_code') {
      sendPowensError(res, 400, 'invalidValue', 'Unsupported grant_type');
      return;
    }
    const code = param(req, 'code') ?? '';
    const record = ctx.store.peekAuthorizationCode(code);
    let userId: number;
    if (record !== undefined && record.clientId === client.clientId) {
      const redirectUri = param(req, 'redirect_uri');
      if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
        sendPowensError(res, 400, 'invalidValue', 'redirect_uri does not match the one the code was issued for');
        return;
      }
      ctx.store.consumeAuthorizationCode(code);
      userId = record.userId;
    } else {
      const temporary = record === undefined ? ctx.store.checkTemporaryCode(code) : undefined;
      if (temporary?.ok !== true) {
        sendPowensError(res, 400, 'invalidValue', 'Invalid, expired or already used code');
        return;
      }
      ctx.store.consumeTemporaryCode(code);
      userId = temporary.userId;
    }
    const token = ctx.store.createToken(userId);
    // Both names: the reference says access_token, the quick start auth_token (docs/POWENS-API.md).
    res.status(200).json({ auth_token: token, access_token: token, token_type: 'Bearer', type: 'permanent' });
  });

  /**
   * A new user and its token (docs.powens.com, "Authentication": AuthTokenInitRequest, AuthToken).
   * With both client_id and client_secret the token is permanent; with neither, the token and the
   * user are temporary (30 minutes). Only one of them is refused, as are wrong ones.
   */
  router.post('/auth/init', knobbed('auth.init'), (req, res) => {
    const id = param(req, 'client_id');
    const secret = param(req, 'client_secret');
    const temporary = (id === undefined || id === '') && (secret === undefined || secret === '');
    if (!temporary && authenticateClient(req, res, []) === undefined) return;
    const user = ctx.store.createUser({ temporary });
    const token = ctx.store.createToken(user.id, { temporary });
    res.status(200).json({
      auth_token: token,
      type: temporary ? 'temporary' : 'permanent',
      id_user: user.id,
      expires_in: temporary ? TEMPORARY_USER_TTL_SECONDS : null,
    });
  });

  router.get('/auth/token/code', knobbed('token.code'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    const requested = param(req, 'type') ?? 'requestAccess';
    if (requested !== 'singleAccess' && requested !== 'requestAccess') {
      sendPowensError(res, 400, 'invalidValue', 'type must be singleAccess or requestAccess');
      return;
    }
    const type: TemporaryCodeType = requested;
    const code = ctx.store.issueTemporaryCode(auth.userId, type);
    res.status(200).json({
      code,
      type: 'temporary',
      access: type === 'singleAccess' ? 'single' : 'standard',
      expires_in: TEMPORARY_CODE_TTL_SECONDS,
    });
  });

  router.delete('/auth/token', knobbed('token.delete'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    ctx.store.revokeToken(auth.token);
    res.status(204).end();
  });

  router.get('/users/me', knobbed('users.me'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    const user = ctx.store.user(auth.userId);
    if (user === undefined) {
      sendPowensError(res, 401, 'invalidToken', 'Invalid access token');
      return;
    }
    res.status(200).json({ id: user.id, signin: user.signin, platform: 'emulator' });
  });

  router.delete('/users/me', knobbed('users.delete'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    ctx.store.deleteUser(auth.userId);
    res.status(204).end();
  });

  router.get('/users/me/connections', knobbed('connections.list'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    const expand = wantsConnector(req);
    const connections = ctx.store.connectionsOf(auth.userId).map((c) => ctx.store.toPowens(c, expand));
    res.status(200).json({ connections, total: connections.length });
  });

  function ownConnection(req: Request, res: Response, userId: number): number | undefined {
    const raw = req.params['id'];
    const id = typeof raw === 'string' && /^[0-9]{1,15}$/.test(raw) ? Number(raw) : undefined;
    const connection = id === undefined ? undefined : ctx.store.connection(id);
    if (connection === undefined || connection.userId !== userId) {
      sendPowensError(res, 404, 'connectionNotFound', 'Connection not found');
      return undefined;
    }
    return connection.id;
  }

  router.get('/users/me/connections/:id', knobbed('connections.get'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    const id = ownConnection(req, res, auth.userId);
    if (id === undefined) return;
    const connection = ctx.store.connection(id);
    if (connection === undefined) return;
    res.status(200).json(ctx.store.toPowens(connection, wantsConnector(req)));
  });

  router.delete('/users/me/connections/:id', knobbed('connections.delete'), (req, res) => {
    const auth = authenticateUser(req, res);
    if (auth === undefined) return;
    const id = ownConnection(req, res, auth.userId);
    if (id === undefined) return;
    ctx.store.deleteConnection(id);
    res.status(204).end();
  });

  // DOCS connectors: "This endpoint does not require authentication"; hidden connectors are left out.
  router.get('/connectors', knobbed('connectors.list'), (_req, res) => {
    const connectors = CONNECTORS.filter((c) => !c.hidden).map((c) => ({ ...c, capabilities: [...c.capabilities] }));
    res.status(200).json({ connectors, total: connectors.length });
  });

  router.use((_req, res) => {
    sendPowensError(res, 404, 'notFound', 'Unknown endpoint');
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = isRecord(err) && typeof err['status'] === 'number' ? err['status'] : 500;
    if (status >= 400 && status < 500) sendPowensError(res, status, 'invalidValue', 'Malformed request body');
    else sendPowensError(res, 500, 'bug', 'Internal error');
  });

  return router;
}
