import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Config } from '../config.js';
import { AppError, isAppError, problemType } from '../errors.js';
import type { ResponseFormat } from '../http/locals.js';
import { defaultLanding } from '../http/return-to.js';
import { languageOf } from '../i18n/index.js';
import { safeError, type Logger } from '../logging.js';
import { errorPage } from './pages.js';

/** Routes declare how their errors are shown; otherwise (no route matched) the Accept header decides. */
export function formatOf(req: Request, res: Response): ResponseFormat {
  const declared = res.locals.format;
  if (declared !== undefined) return declared;
  return req.accepts(['html', 'json']) === 'html' ? 'page' : 'json';
}

/** Errors thrown by Express' own parsers and by libraries, mapped to the catalogue. */
function toAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  const e = err as { type?: unknown; status?: unknown; statusCode?: unknown };
  switch (e?.type) {
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', { cause: err });
    case 'entity.parse.failed':
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('BAD_REQUEST', { cause: err });
    default:
      break;
  }
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status === 400) return new AppError('BAD_REQUEST', { cause: err });
  if (status === 404) return new AppError('NOT_FOUND', { cause: err });
  if (status === 413) return new AppError('PAYLOAD_TOO_LARGE', { cause: err });
  if (status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', { cause: err });
  return new AppError('INTERNAL', { cause: err });
}

/**
 * The one place errors are rendered: a page for browser routes, in the reader's language, with
 * the way back to the app and what the flow decided (res.locals.page); problem+json for the
 * API, in English (a machine reads `code`). The public text comes from the catalogue only; the
 * log line gets the detail and the cause.
 */
export function createErrorHandler(logger: Logger, config: Pick<Config, 'auth' | 'powens' | 'returnToOrigins'>): ErrorRequestHandler {
  const landing = defaultLanding(config.returnToOrigins);
  const demo = config.auth.mode === 'demo';
  return (err: unknown, req, res, next) => {
    if (res.writableEnded) {
      // A failure reported after the response was complete: there is nothing left to answer,
      // and handing it on would make Express destroy a healthy keep-alive connection under the
      // client. (express-session's own late store errors are caught in storage/session.ts.)
      (req.log ?? logger).warn({ err: safeError(err) }, 'error after the response was sent');
      return;
    }
    const appError = toAppError(err);
    const referenceId = String(req.id ?? '');
    res.locals.errorCode = appError.code;
    // Not a line of its own: the request's line (http/request-context.ts) carries these, at
    // error for a 5xx and warn for a 4xx; the reference id on the page is its reqId.
    res.locals.errorLog = {
      errorCode: appError.code,
      ...(appError.logDetail !== undefined ? { detail: appError.logDetail } : {}),
      ...(appError.cause !== undefined ? { cause: safeError(appError.cause) } : {}),
    };

    if (res.headersSent) {
      next(err);
      return;
    }
    res.status(appError.status);
    res.setHeader('Cache-Control', 'no-store');
    if (appError.retryAfter !== undefined) res.setHeader('Retry-After', String(appError.retryAfter));
    if (formatOf(req, res) === 'page') {
      const lang = languageOf(config.powens.webviewLang, req.headers);
      const links = res.locals.page;
      // The flow decided the page's next step where it knew the flow (res.locals.page).
      const retry = links?.retryPath !== undefined ? { path: links.retryPath, action: links.retryAction ?? 'connect' } : undefined;
      res.setHeader('Content-Language', lang);
      res.type('html').send(errorPage({ lang, demo, code: appError.code, referenceId, backTo: links?.backTo ?? landing, retry }));
      return;
    }
    res.type('application/problem+json').send(
      JSON.stringify({
        type: problemType(appError.code),
        title: appError.title,
        status: appError.status,
        detail: appError.publicMessage,
        code: appError.code,
        requestId: referenceId,
      }),
    );
  };
}
