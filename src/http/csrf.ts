import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';

/** Methods that change nothing; every other method is state-changing and guarded. */
export const SAFE_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];
const SAFE = new Set(SAFE_METHODS);

/**
 * The only paths the guard lets through: server-to-server calls that a browser never makes and
 * that authenticate otherwise (the webhook: HMAC or the user's Powens token). The route test
 * reads this same list, so a new exemption is a visible, reviewed change. (The webhook routes,
 * `/webhooks/powens/:event` included, are mounted before the guard in app.ts and never reach it.)
 */
export const CSRF_EXEMPT_PATHS: readonly string[] = ['/webhooks/powens', '/webhooks/powens/:event'];

/**
 * The one CSRF mechanism, mounted once for the whole app: every state-changing request needs
 * `X-CSRF: 1` (a header a cross-site form cannot send and a cross-site fetch cannot send
 * without a CORS preflight we refuse), and an Origin, when present, must be one we trust.
 * Only the paths listed in `exempt` (server-to-server webhooks, authenticated otherwise) skip it.
 */
export function csrfGuard(allowedOrigins: readonly string[], exempt: readonly string[]): RequestHandler {
  const allowed = new Set(allowedOrigins);
  const skip = new Set(exempt);
  return (req, res, next) => {
    if (SAFE.has(req.method) || skip.has(req.path)) {
      next();
      return;
    }
    // Only scripts make state-changing calls (every browser route is a GET): a refusal is
    // answered as the API answers, problem+json, whatever the route would have rendered.
    res.locals.format ??= 'json';
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(origin)) {
      next(new AppError('ORIGIN_FORBIDDEN', { logDetail: { origin: origin.slice(0, 200) } }));
      return;
    }
    if (req.headers['x-csrf'] !== '1') {
      next(new AppError('CSRF_HEADER_MISSING'));
      return;
    }
    next();
  };
}
