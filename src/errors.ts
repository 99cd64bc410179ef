import { t, type Lang } from './i18n/index.js';

/**
 * The error catalogue: every failure the service can show has a stable `code`, an HTTP status
 * and a public message that is safe to render (no input echoed, no secret). Dependency errors
 * (got, ioredis) are mapped to these at the boundary, keeping the original as `cause` for logs.
 */

export interface CatalogueEntry {
  readonly status: number;
}

/**
 * Each code's public title and message are in the message catalogue (src/i18n, keys
 * `error.<CODE>.title` and `error.<CODE>.message`, in English and French): pages show them in the
 * reader's language, problem+json carries the English ones.
 */
export const catalogue = {
  BAD_REQUEST: { status: 400 },
  USER_REQUIRED: { status: 401 },
  USER_ID_INVALID: { status: 400 },
  CREDENTIALS_AMBIGUOUS: { status: 400 },
  CSRF_HEADER_MISSING: { status: 403 },
  ORIGIN_FORBIDDEN: { status: 403 },
  NOT_FOUND: { status: 404 },
  METHOD_NOT_ALLOWED: { status: 405 },
  PAYLOAD_TOO_LARGE: { status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  RATE_LIMITED: { status: 429 },
  STATE_MISSING: { status: 400 },
  STATE_INVALID: { status: 400 },
  SESSION_COOKIE_MISSING: { status: 400 },
  FLOW_USER_MISMATCH: { status: 400 },
  FLOW_CANCELLED: { status: 400 },
  FLOW_TOS_DECLINED: { status: 400 },
  FLOW_SESSION_EXPIRED: { status: 400 },
  FLOW_FAILED: { status: 400 },
  FLOW_POWENS_ERROR: { status: 502 },
  CODE_MISSING: { status: 400 },
  LINK_RACE: { status: 400 },
  NOT_LINKED: { status: 409 },
  CONNECTION_NOT_FOUND: { status: 404 },
  POWENS_UNAVAILABLE: { status: 502 },
  POWENS_BAD_RESPONSE: { status: 502 },
  POWENS_REJECTED: { status: 502 },
  POWENS_TOKEN_INVALID: { status: 502 },
  STORE_UNAVAILABLE: { status: 503 },
  AUTH_UNAVAILABLE: { status: 503 },
  SHUTTING_DOWN: { status: 503 },
  WEBHOOK_UNAUTHORIZED: { status: 401 },
  WEBHOOK_BUSY: { status: 503 },
  INTERNAL: { status: 500 },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof catalogue;

export interface AppErrorOptions {
  cause?: unknown;
  /** Safe, non-public detail for the log line (never rendered). */
  logDetail?: Record<string, unknown>;
  /** Seconds, for 429 and 503. */
  retryAfter?: number;
}

/** The public title and message of a code, in `lang`. */
export function errorText(code: ErrorCode, lang: Lang): { title: string; message: string } {
  return { title: t(lang, `error.${code}.title`), message: t(lang, `error.${code}.message`) };
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** English, as problem+json carries it; pages take the reader's language from errorText. */
  readonly title: string;
  readonly publicMessage: string;
  readonly logDetail: Record<string, unknown> | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    const entry: CatalogueEntry = catalogue[code];
    const text = errorText(code, 'en');
    super(text.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = text.title;
    this.publicMessage = text.message;
    this.logDetail = options.logDetail;
    this.retryAfter = options.retryAfter;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** The error code as a URN, for problem+json `type`. */
export function problemType(code: ErrorCode): string {
  return `urn:powens-connect-bff:error:${code.toLowerCase().replaceAll('_', '-')}`;
}
