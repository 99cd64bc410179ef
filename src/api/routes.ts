import express, { type IRouter } from 'express';
import { currentUser, requireUser, type Authenticator } from '../auth/user.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { parseId } from '../http/params.js';
import type { ConnectionsService } from './connections.js';
import { createOpenApiDocument } from './openapi.js';

export interface ApiDeps {
  config: Config;
  auth: Authenticator;
  connections: ConnectionsService;
}

/** Adds /openapi.json and /me/connections to the app (app.ts says why not a nested Router). */
export function addApiRoutes(router: IRouter, deps: ApiDeps): void {
  const user = requireUser(deps.auth, deps.config, 'json');
  // Scoped to the API: other routers (the demo sign-in) set their own, smaller limits.
  router.use('/me', express.json({ limit: '16kb', strict: true }));

  // Built once: the document depends only on the configuration.
  const openapi = JSON.stringify(createOpenApiDocument(deps.config));
  router.get('/openapi.json', (_req, res) => {
    res.locals.route = '/openapi.json';
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/json').send(openapi);
  });

  router.get('/me/connections', user, async (_req, res) => {
    res.locals.route = '/me/connections';
    res.setHeader('Cache-Control', 'no-store');
    const body = await deps.connections.listJson(currentUser(res));
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.send(body);
  });

  router.delete('/me/connections/:id', user, async (req, res) => {
    res.locals.route = '/me/connections/:id';
    const id = parseId(String(req.params.id ?? ''));
    if (id === undefined) throw new AppError('CONNECTION_NOT_FOUND');
    await deps.connections.remove(currentUser(res), id);
    res.status(204).end();
  });

  router.delete('/me/connections', user, async (_req, res) => {
    res.locals.route = '/me/connections';
    await deps.connections.unlink(currentUser(res));
    res.status(204).end();
  });

}
