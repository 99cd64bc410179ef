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
}

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
