import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logging.js';
import { logContext, pathOnly, runInLogContext, type LogContext } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { endServerSpan, startServerSpan, withContext } from '../tracing.js';

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
 * What the error handler (web/error-handler.ts) leaves for the request's line instead of
 * writing a line of its own: one line per request, the failed ones included.
 */
export interface ErrorLogFields {
  errorCode: string;
  detail?: Record<string, unknown>;
  cause?: Record<string, unknown>;
}

declare module 'express-serve-static-core' {
  interface Locals {
    /** Set by the error handler: the error's fields for the request's line. */
    errorLog?: ErrorLogFields;
  }
}

/**
 * The first middleware of every request and all its bookkeeping in one place: the request id
 * (X-Request-Id, also on error pages), `Connection: close` once shutdown began, the log context
 * every line written for the request carries (logging.ts), and when the response is done one
 * log line and one observation of the duration histogram.
 *
 * One line per request, failed or not: the error handler hands its fields (code, detail, cause)
 * to this line rather than writing its own, and a Powens call that failed while the request ran
 * is reported in it too (at warn at least). A 10 s Redis outage under load wrote two error lines
 * a request before; the line is what an operator reads first and what alerts count.
 *
 * One layer and one 'close' listener rather than three middlewares with a listener each: Node
 * emits 'close' on every response, after 'finish' or when the client went away. Written by hand
 * rather than with pino-http, which cost a third of the CPU of a cached API request (three child
 * loggers and serializers per request, whatever the level).
 *
 * The log line holds the path only, never the query string (the callback's query carries a code,
 * the flow routes carry states), no request header (cookies, Authorization), no response header
 * (Location of a webview redirect holds a temporary code; Set-Cookie a session), and the user
 * only as its keyed reference (userRef, see crypto.ts), never the id.
 */
export function requestContext({ logger, metrics, lifecycle }: RequestContextDeps): RequestHandler {
  const children = new WeakMap<IncomingMessage, Logger>();
  const withLog = new WeakSet<object>();
  /**
   * `req.log` is a getter on the app's request prototype (Express gives each app its own), not
   * one defined on every request: a per-request accessor costs a property definition and gives
   * each request object a shape of its own, which slows every later property access on it.
   * Inside the request's own context it is the app's logger (the context adds the request's
   * fields); elsewhere (a callback that lost the context) a child bound to the request id.
   */
  const install = (proto: object): void => {
    Object.defineProperty(proto, 'log', {
      configurable: true,
      enumerable: false,
      get(this: IncomingMessage): Logger {
        if (logContext()?.reqId === this.id) return logger;
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
  const inFlight = metrics.httpInFlight;
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req, res);
    req.id = id;
    const context: LogContext = { reqId: id };
    // Sockets drain as their last request finishes.
    if (lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    const proto: unknown = Object.getPrototypeOf(req);
    // Never on Node's own IncomingMessage.prototype (shared by every server in the process):
    // outside an Express app, the getter goes on the request itself.
    if (typeof proto !== 'object' || proto === null || proto === IncomingMessage.prototype) install(req);
    else if (!withLog.has(proto)) install(proto);
    inFlight.inc();
    // The request's span (a no-op unless tracing is on), parented by an incoming traceparent.
    const { span, ctx } = startServerSpan(req.method, req.headers);
    // 'close' comes once per response: a plain listener, without once()'s wrapper per request.
    res.on('close', () => {
      inFlight.dec();
      context.done = true;
      const ms = performance.now() - started;
      const status = res.statusCode;
      const aborted = !res.writableFinished;
      const route = routeLabel(req);
      const locals = res.locals;
      if (!aborted) metrics.httpDuration.observe({ method: req.method, route, status: String(status) }, ms / 1000);
      const error = locals.errorLog;
      if (span.isRecording()) {
        const matched = route !== UNMATCHED_ROUTE ? route : undefined;
        endServerSpan(span, {
          method: req.method,
          scheme: req.protocol,
          route: matched,
          path: pathOnly(req.originalUrl),
          status,
          errorCode: error?.errorCode ?? locals.errorCode,
          aborted,
        });
      }
      const failure = context.powensFailure;
      const level: Level = status >= 500 ? 'error' : status >= 400 || aborted || failure !== undefined ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const path = pathOnly(req.originalUrl);
      logger[level](
        {
          reqId: id,
          route,
          req: { id, method: req.method, path },
          res: { statusCode: status },
          responseTime: Math.round(ms * 1000) / 1000,
          ...(context.userRef !== undefined ? { userRef: context.userRef } : {}),
          ...(error !== undefined ? error : locals.errorCode !== undefined ? { errorCode: locals.errorCode } : {}),
          ...(failure !== undefined ? { powens: failure } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        `${req.method} ${path} ${aborted ? 'aborted' : status}${error !== undefined ? ` ${error.errorCode}` : ''}`,
      );
    });
    withContext(ctx, () => runInLogContext(context, next));
  };
}

/**
 * Request duration by route template, never by raw path (paths are attacker-chosen: one label
 * each would let anyone grow the registry without bound). The template is the path of the route
 * that matched (routes are declared with http/routes.ts and carry their rate limits, session
 * and user checks inside them, so a request refused by one of those still has its route), else
 * one fixed label for everything no route matched (404s for random paths, CORS preflights).
 */
export function routeLabel(req: Request): string {
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : UNMATCHED_ROUTE;
}
