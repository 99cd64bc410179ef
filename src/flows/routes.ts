import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';
import type { RouteSpec } from '../http/routes.js';
import { callbackGuard, finishFlow, type CallbackDeps } from './callback.js';
import { startFlow, type StartDeps } from './start.js';

export interface FlowRouteDeps extends StartDeps, CallbackDeps {
  /** Per IP (before the session is read), session, per user: in that order on every flow route. */
  perIp: RequestHandler;
  session: RequestHandler;
  perUser: RequestHandler;
  /** Sends a browser without an app user to the app's login. */
  requireUser: RequestHandler;
}

const START_PATHS = { connect: '/connect', reconnect: '/reconnect/:connectionId', manage: '/manage' } as const;

/** Express answers HEAD with the GET handler: on these routes that would mint a temporary code and burn or create a flow nobody reads. */
const headRefused: RequestHandler = (_req, res) => {
  res.setHeader('Allow', 'GET');
  throw new AppError('METHOD_NOT_ALLOWED');
};

export function flowRoutes(deps: FlowRouteDeps): RouteSpec[] {
  const guards = [deps.perIp, deps.session, deps.perUser];
  const starts = (Object.keys(START_PATHS) as (keyof typeof START_PATHS)[]).map((kind): RouteSpec => ({
    method: 'get',
    path: START_PATHS[kind],
    format: 'page',
    use: [...guards, deps.requireUser],
    handler: startFlow(deps, kind),
  }));
  const paths = [...Object.values(START_PATHS), '/callback'];
  return [
    ...paths.map((path): RouteSpec => ({ method: 'head', path, format: 'page', handler: headRefused })),
    ...starts,
    // A callback refused by a guard (Redis unreachable) still cleans up the codes it carries.
    { method: 'get', path: '/callback', format: 'page', use: guards.map((g) => callbackGuard(deps, g)), handler: finishFlow(deps) },
  ];
}
