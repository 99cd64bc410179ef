import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Request, RequestHandler, Response } from 'express';
import type { Lifecycle } from './health.js';
import type { Metrics } from './metrics.js';

export type { Logger };

/**
 * Paths whose values must never be logged even if some code puts them in a log object by
 * mistake. The request serializer below already logs no header and no query value.
 */
const REDACT = [
  'token',
  'state',
  'secret',
  'clientSecret',
  'client_secret',
  'authorization',
  'cookie',
  '*.token',
  '*.state',
  '*.secret',
  '*.clientSecret',
  '*.client_secret',
  '*.authorization',
  '*.cookie',
  'req.headers',
  'res.headers',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'powens-connect-bff' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id: an incoming X-Request-Id is honoured when it is a plain token (so a client
 * cannot inject newlines or markup into logs and pages), else a new UUID.
 */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

declare module 'http' {
  interface IncomingMessage {
    /** The request id (X-Request-Id), also the reference id of error pages. */
    id?: string;
    /** A child logger bound to the request id; created on first use. */
    log?: Logger;
  }
}

type Level = 'info' | 'warn' | 'error';

export interface RequestContextDeps {
  logger: Logger;
  metrics: Metrics;
  lifecycle: Lifecycle;
}

const UNMATCHED_ROUTE = 'unmatched';

/**
 * The first middleware of every request and all its bookkeeping in one place: the request id
 * (X-Request-Id, also on error pages), `Connection: close` once shutdown began, and when the
 * response is done one log line and one observation of the duration histogram.
 *
 * One layer and one 'close' listener rather than three middlewares with a listener each: Node
 * emits 'close' on every response, after 'finish' or when the client went away, and a request
 * that logs nothing but its line builds no child logger at all. Written by hand rather than with
 * pino-http, which cost a third of the CPU of a cached API request (three child loggers and
 * serializers per request, whatever the level).
 *
 * The log line holds the path only, never the query string (the callback's query carries a code,
 * the flow routes carry states), no request header (cookies, Authorization) and no response
 * header (Location of a webview redirect holds a temporary code; Set-Cookie a session).
 */
export function requestContext({ logger, metrics, lifecycle }: RequestContextDeps): RequestHandler {
  const children = new WeakMap<IncomingMessage, Logger>();
  const withLog = new WeakSet<object>();
  /**
   * `req.log` is a getter on the app's request prototype (Express gives each app its own), not
   * one defined on every request: a per-request accessor costs a property definition and gives
   * each request object a shape of its own, which slows every later property access on it.
   */
  const install = (proto: object): void => {
    Object.defineProperty(proto, 'log', {
      configurable: true,
      enumerable: false,
      get(this: IncomingMessage): Logger {
        let child = children.get(this);
        if (child === undefined) {
          child = logger.child({ reqId: this.id });
          children.set(this, child);
        }
        return child;
      },
    });
    withLog.add(proto);
  };
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req, res);
    req.id = id;
    // Sockets drain as their last request finishes.
    if (lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    const proto: unknown = Object.getPrototypeOf(req);
    // Never on Node's own IncomingMessage.prototype (shared by every server in the process):
    // outside an Express app, the getter goes on the request itself.
    if (typeof proto !== 'object' || proto === null || proto === IncomingMessage.prototype) install(req);
    else if (!withLog.has(proto)) install(proto);
    // 'close' comes once per response: a plain listener, without once()'s wrapper per request.
    res.on('close', () => {
      const ms = performance.now() - started;
      const status = res.statusCode;
      const aborted = !res.writableFinished;
      const route = routeLabel(req, res);
      if (!aborted) metrics.httpDuration.observe({ method: req.method, route, status: String(status) }, ms / 1000);
      const level: Level = status >= 500 ? 'error' : status >= 400 || aborted ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const path = pathOnly(req.originalUrl);
      const locals = res.locals as Record<string, unknown>;
      logger[level](
        {
          reqId: id,
          req: { id, method: req.method, path },
          res: { statusCode: status },
          responseTime: Math.round(ms * 1000) / 1000,
          ...(locals.route !== undefined ? { route: locals.route } : {}),
          ...(locals.errorCode !== undefined ? { errorCode: locals.errorCode } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        `${req.method} ${path} ${aborted ? 'aborted' : status}`,
      );
    });
    next();
  };
}

/**
 * Request duration by route template, never by raw path (paths are attacker-chosen: one label
 * each would let anyone grow the registry without bound). The template is the one a handler set
 * in res.locals.route, else the Express route that matched (a request refused by a route's own
 * middleware, requireUser say, never reaches the handler), else one fixed label for everything
 * no route matched (404s for random paths, CORS preflights). Routers are mounted at fixed paths,
 * so baseUrl is a template too.
 */
function routeLabel(req: Request, res: Response): string {
  if (typeof res.locals.route === 'string') return res.locals.route;
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') return `${req.baseUrl}${path}`;
  if (Array.isArray(path) && path.every((p) => typeof p === 'string')) return `${req.baseUrl}${path.join('|')}`;
  return UNMATCHED_ROUTE;
}

export function pathOnly(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  // Paths are attacker-chosen: cap them and make control characters visible.
  return path.slice(0, 256).replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** An error for the log: name, code and message of it and its causes; nothing else. */
export function safeError(err: unknown, depth = 0): Record<string, unknown> | undefined {
  if (depth > 3 || err === undefined || err === null) return undefined;
  if (typeof err !== 'object') return { message: String(err).slice(0, 200) };
  // An Error, or an error another serializer already turned into a plain object (pino-http
  // hands its `err` serializer such objects): only these fields, whatever else it carries.
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  return {
    ...(typeof e.name === 'string' ? { name: e.name } : {}),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    message: typeof e.message === 'string' ? e.message.slice(0, 500) : '',
    ...(e.cause !== undefined ? { cause: safeError(e.cause, depth + 1) } : {}),
  };
}
