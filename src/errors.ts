/**
 * The error catalogue: every failure the service can show has a stable `code`, an HTTP status
 * and a public message that is safe to render (no input echoed, no secret). Dependency errors
 * (got, ioredis) are mapped to these at the boundary, keeping the original as `cause` for logs.
 */

export interface CatalogueEntry {
  readonly status: number;
  readonly title: string;
  /** What a person should read; never includes request data. */
  readonly message: string;
}

export const catalogue = {
  BAD_REQUEST: { status: 400, title: 'Bad request', message: 'The request is not valid.' },
  USER_REQUIRED: { status: 401, title: 'Sign-in required', message: 'Please sign in to the application first.' },
  USER_ID_INVALID: {
    status: 400,
    title: 'Invalid user id',
    message: 'The user id must be 1 to 128 printable characters.',
  },
  CREDENTIALS_AMBIGUOUS: {
    status: 400,
    title: 'Ambiguous credentials',
    message: 'The request carries the sign-in cookie more than once. Please sign in again.',
  },
  CSRF_HEADER_MISSING: {
    status: 403,
    title: 'CSRF header missing',
    message: 'State-changing requests must carry the header X-CSRF: 1.',
  },
  ORIGIN_FORBIDDEN: { status: 403, title: 'Origin not allowed', message: 'This origin may not call the API.' },
  NOT_FOUND: { status: 404, title: 'Not found', message: 'There is nothing here.' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', message: 'This method is not allowed here.' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large', message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    message: 'The request body must be JSON.',
  },
  RATE_LIMITED: { status: 429, title: 'Too many requests', message: 'Too many requests. Please wait and try again.' },

  STATE_MISSING: {
    status: 400,
    title: 'Missing state',
    message: 'The bank returned without the information needed to finish. Please start again.',
  },
  STATE_INVALID: {
    status: 400,
    title: 'Link expired or already used',
    message: 'This bank connection link has expired or was already used. Please start again.',
  },
  SESSION_COOKIE_MISSING: {
    status: 400,
    title: 'Session cookie not sent back',
    message:
      'Your browser did not send the session cookie back when it returned from the bank, so this ' +
      'connection cannot be finished. This usually comes from cookie settings: the service is ' +
      'reached over plain http while its cookies are marked Secure, or a proxy in front of it does ' +
      'not forward cookies or the original protocol (see TRUST_PROXY). Please start again; if it ' +
      'happens again, tell the site operator.',
  },
  FLOW_USER_MISMATCH: {
    status: 400,
    title: 'Started by another user',
    message: 'This bank connection was started by another user. Please sign in as that user or start again.',
  },
  FLOW_CANCELLED: { status: 400, title: 'Cancelled', message: 'You cancelled the bank connection. Nothing was changed.' },
  FLOW_TOS_DECLINED: {
    status: 400,
    title: 'Terms declined',
    message: 'The terms of service were declined, so the bank could not be connected.',
  },
  FLOW_FAILED: {
    status: 400,
    title: 'Bank connection not completed',
    message: 'The bank connection could not be completed. Please try again.',
  },
  FLOW_POWENS_ERROR: {
    status: 502,
    title: 'Bank service error',
    message: 'The bank aggregation service had a problem. Please try again in a few minutes.',
  },
  CODE_MISSING: {
    status: 400,
    title: 'Incomplete answer',
    message: 'The bank connection service returned without an authorization code. Please start again.',
  },
  LINK_RACE: {
    status: 400,
    title: 'Finished in another tab',
    message: 'Another tab finished linking your bank first, so this attempt was discarded to keep a single ' + 'bank profile. Please try again.',
  },
  NOT_LINKED: {
    status: 409,
    title: 'No bank linked',
    message: 'You have no linked bank yet, so there is nothing to reconnect or manage. Add a connection first.',
  },
  CONNECTION_NOT_FOUND: { status: 404, title: 'Connection not found', message: 'There is no such bank connection.' },

  POWENS_UNAVAILABLE: {
    status: 502,
    title: 'Bank service unavailable',
    message: 'The bank aggregation service is not answering. Please try again in a few minutes.',
  },
  POWENS_BAD_RESPONSE: {
    status: 502,
    title: 'Bank service error',
    message: 'The bank aggregation service gave an answer we could not read. Please try again later.',
  },
  POWENS_REJECTED: {
    status: 502,
    title: 'Bank service refused',
    message: 'The bank aggregation service refused the request. Please try again later.',
  },
  POWENS_TOKEN_INVALID: {
    status: 502,
    title: 'Bank link no longer valid',
    message: 'The link to your bank profile is no longer valid.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    title: 'Temporarily unavailable',
    message: 'The service is temporarily unavailable. Please try again in a moment.',
  },
  AUTH_UNAVAILABLE: {
    status: 503,
    title: 'Sign-in check unavailable',
    message: 'Your sign-in cannot be checked right now. Please try again in a moment.',
  },
  SHUTTING_DOWN: {
    status: 503,
    title: 'Restarting',
    message: 'The service is restarting. Please try again in a moment.',
  },
  WEBHOOK_UNAUTHORIZED: { status: 401, title: 'Unauthorized', message: 'The webhook could not be authenticated.' },
  INTERNAL: { status: 500, title: 'Internal error', message: 'Something went wrong on our side. Please try again.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof catalogue;

export interface AppErrorOptions {
  cause?: unknown;
  /** Safe, non-public detail for the log line (never rendered). */
  logDetail?: Record<string, unknown>;
  /** Seconds, for 429 and 503. */
  retryAfter?: number;
  /**
   * Where the error page's link leads when the error itself names the next step (no bank linked:
   * add one). Otherwise the page offers what the flow decided (res.locals.page).
   */
  retryPath?: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly publicMessage: string;
  readonly logDetail: Record<string, unknown> | undefined;
  readonly retryAfter: number | undefined;
  readonly retryPath: string | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    const entry: CatalogueEntry = catalogue[code];
    super(entry.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.publicMessage = entry.message;
    this.logDetail = options.logDetail;
    this.retryAfter = options.retryAfter;
    this.retryPath = options.retryPath;
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** The error code as a URN, for problem+json `type`. */
export function problemType(code: ErrorCode): string {
  return `urn:powens-connect-bff:error:${code.toLowerCase().replaceAll('_', '-')}`;
}
