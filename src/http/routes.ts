import type { IRouter, Request, RequestHandler } from 'express';
import { logContext } from '../logging.js';
import type { ResponseFormat } from './locals.js';
import { routeLabel } from './request-context.js';

/**
 * A route as a feature declares it. app.ts adds every feature's routes the same way, so the
 * route's path is the one label of its requests (metrics, logs: the request context reads the
 * matched route) and everything a route needs before its handler (rate limits, session, user)
 * runs inside the route: a 503 from the session store or a 429 is counted under the route it
 * was meant for.
 */
export interface RouteSpec {
  method: 'get' | 'post' | 'delete' | 'head';
  path: string;
  /** Pages for browsers, problem+json for scripts: how this route's errors are rendered. */
  format: ResponseFormat;
  /** Run in order after the route matched, before the handler. */
  use?: readonly RequestHandler[];
  handler: RequestHandler;
}

/** The lines written from here on (rate limits, session, handler, domain) name the route. */
function nameRoute(req: Request): void {
  const context = logContext();
  if (context !== undefined) context.route = routeLabel(req);
}

const formats: Record<ResponseFormat, RequestHandler> = {
  page: (req, res, next) => {
    res.locals.format = 'page';
    nameRoute(req);
    next();
  },
  json: (req, res, next) => {
    res.locals.format = 'json';
    nameRoute(req);
    next();
  },
};

export function addRoutes(router: IRouter, routes: readonly RouteSpec[]): void {
  for (const route of routes) {
    router[route.method](route.path, formats[route.format], ...(route.use ?? []), route.handler);
  }
}
