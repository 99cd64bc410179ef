import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { RequestHandler } from 'express';

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

/**
 * One JSON line per request, written when the response is finished (or the client went away).
 * Only the path is logged, never the query string: the callback's query carries a code, and the
 * flow routes carry states. No header is logged (cookies, Authorization), and no response
 * header (Location of a webview redirect holds a temporary code; Set-Cookie a session).
 *
 * Written by hand rather than with pino-http: the same line cost a third of the CPU of a cached
 * API request there (three child loggers and serializers per request, whatever the level); here
 * a request that logs nothing but its line builds no child logger at all.
 */
export function createHttpLogger(logger: Logger): RequestHandler {
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
    const started = process.hrtime.bigint();
    const id = requestId(req, res);
    req.id = id;
    const proto: unknown = Object.getPrototypeOf(req);
    // Never on Node's own IncomingMessage.prototype (shared by every server in the process):
    // outside an Express app, the getter goes on the request itself.
    if (typeof proto !== 'object' || proto === null || proto === IncomingMessage.prototype) install(req);
    else if (!withLog.has(proto)) install(proto);
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      const status = res.statusCode;
      const aborted = !res.writableFinished;
      const level: Level = status >= 500 ? 'error' : status >= 400 || aborted ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const path = pathOnly(req.originalUrl);
      const locals = res.locals as Record<string, unknown>;
      logger[level](
        {
          reqId: id,
          req: { id, method: req.method, path },
          res: { statusCode: status },
          responseTime: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
          ...(locals.route !== undefined ? { route: locals.route } : {}),
          ...(locals.errorCode !== undefined ? { errorCode: locals.errorCode } : {}),
          ...(aborted ? { aborted: true } : {}),
        },
        `${req.method} ${path} ${aborted ? 'aborted' : status}`,
      );
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
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
