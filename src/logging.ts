import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** A failed Powens call as the request's line reports it (powens/client.ts fills it in). */
export interface PowensFailure {
  endpoint: string;
  status?: number;
  errorCode: string;
  attempts: number;
  powensRequestId?: string;
}

/**
 * What every log line written while serving a request says about it, whoever writes it: the
 * request id, the route template once one matched, and the user's pseudonymous reference once
 * the user is known (auth/user.ts). The request context (http/request-context.ts) makes one per
 * request and runs the request inside it (AsyncLocalStorage), so domain code logs with the
 * request id without a logger passed down to it.
 */
export interface LogContext {
  readonly reqId: string;
  route?: string;
  userRef?: string;
  /** The request's line is written: later lines (work after the answer) stand on their own. */
  done?: boolean;
  /** The last Powens call of this request that failed: reported in the request's line. */
  powensFailure?: PowensFailure;
}

const contexts = new AsyncLocalStorage<LogContext>();

/** Runs `fn` (the rest of a request's middleware) inside the request's log context. */
export function runInLogContext<T>(context: LogContext, fn: () => T): T {
  return contexts.run(context, fn);
}

/** The log context of the request being served, if any. */
export function logContext(): LogContext | undefined {
  return contexts.getStore();
}

/**
 * Adds the request's fields to every line written inside a request. pino merges the object
 * returned into the line (the line's own fields win), so it must be a new object each time.
 */
function requestFields(): Record<string, string> {
  const c = contexts.getStore();
  if (c === undefined) return {};
  const fields: Record<string, string> = { reqId: c.reqId };
  if (c.route !== undefined) fields.route = c.route;
  if (c.userRef !== undefined) fields.userRef = c.userRef;
  return fields;
}

/**
 * Paths whose values must never be logged even if some code puts them in a log object by
 * mistake. The request log line (http/request-context.ts) carries no header and no query value.
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
      mixin: requestFields,
    },
    destination,
  );
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
  if (typeof err === 'function') return { message: 'a function was thrown' };
  if (typeof err !== 'object') return { message: String(err as string | number | boolean | bigint | symbol).slice(0, 200) };
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
