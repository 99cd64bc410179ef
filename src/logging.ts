import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

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
