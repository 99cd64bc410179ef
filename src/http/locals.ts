import type { ErrorCode } from '../errors.js';

/** How a route answers, and so how its errors are rendered. */
export type ResponseFormat = 'page' | 'json';

/**
 * What an error page offers besides its message. Decided by the flow code as soon as the flow
 * is known (its start path, the way back to the app), read by the error handler.
 */
export interface PageLinks {
  /** Where "try again" leads; none: the page has no such link. */
  retryPath?: string | undefined;
  /** What that link does, which names its button: restart this kind of flow, or add a connection. Default: `connect`. */
  retryAction?: RetryAction;
  /** The way back to the app: the flow's return_to. Default: the default landing (RETURN_TO_ORIGINS). */
  backTo?: string;
}

export type RetryAction = 'connect' | 'reconnect' | 'manage' | 'add';

declare global {
  // Express types res.locals as Express.Locals merged with a loose record: declaring the fields
  // here makes every read and write of them typed.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Set by the route (http/routes.ts); absent when no route matched. */
      format?: ResponseFormat;
      /** The signed-in app user, set by requireUser. */
      userId?: string;
      /** The catalogue code of the error this request ended with, for the log line. */
      errorCode?: ErrorCode;
      page?: PageLinks;
    }
  }
}
