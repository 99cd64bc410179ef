import type { IRouter, RequestHandler } from 'express';
import type { ResponseFormat } from './locals.js';

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

const formats: Record<ResponseFormat, RequestHandler> = {
  page: (_req, res, next) => {
    res.locals.format = 'page';
    next();
  },
  json: (_req, res, next) => {
    res.locals.format = 'json';
    next();
  },
};

export function addRoutes(router: IRouter, routes: readonly RouteSpec[]): void {
  for (const route of routes) {
    router[route.method](route.path, formats[route.format], ...(route.use ?? []), route.handler);
  }
}
