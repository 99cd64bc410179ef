import express, { type RequestHandler } from 'express';
import { currentUser } from '../auth/user.js';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { AppError } from '../errors.js';
import { parseId } from '../http/params.js';
import type { RouteSpec } from '../http/routes.js';
import { languageOf } from '../i18n/index.js';
import type { ConnectorsCatalogue } from '../powens/connectors.js';
import { localizeViews } from '../powens/status.js';
import { createOpenApiDocument } from './openapi.js';

export interface ApiDeps {
  config: Config;
  connections: Connections;
  /** Per IP, then (demo only) the session, then per user, then the user itself: 401 without one. */
  guards: readonly RequestHandler[];
  /** The same rate limits without requiring a user: for what is the same for everyone. */
  limits: readonly RequestHandler[];
  connectors: ConnectorsCatalogue;
}

/** /openapi.json, the domain's connectors and the user's connections. */
export function apiRoutes(deps: ApiDeps): RouteSpec[] {
  // Scoped to the API: the demo sign-in sets its own, smaller limit.
  const body = express.json({ limit: '16kb', strict: true });
  const use = [...deps.guards, body];
  // Built once: the document depends only on the configuration.
  const openapi = JSON.stringify(createOpenApiDocument(deps.config));
  return [
    {
      method: 'get',
      path: '/openapi.json',
      format: 'json',
      handler: (_req, res) => {
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.type('application/json').send(openapi);
      },
    },
    {
      // No user needed: the domain's connector list is the same for everyone (Powens serves it
      // without authentication), so an app may show its bank picker before its user signs in.
      method: 'get',
      path: '/connectors',
      format: 'json',
      use: [...deps.limits],
      handler: async (_req, res) => {
        const json = await deps.connectors.json();
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.send(json);
      },
    },
    {
      method: 'get',
      path: '/me/connections',
      format: 'json',
      use,
      handler: async (req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        // The cache is per user and language-neutral; `message` is put in the reader's language here.
        const lang = languageOf(deps.config.powens.webviewLang, req.headers);
        const answer = await deps.connections.list(currentUser(res));
        res.setHeader('Content-Language', lang);
        res.json({ ...answer, connections: localizeViews(answer.connections, lang) });
      },
    },
    {
      method: 'delete',
      path: '/me/connections/:id',
      format: 'json',
      use,
      handler: async (req, res) => {
        const id = parseId(String(req.params.id ?? ''));
        if (id === undefined) throw new AppError('CONNECTION_NOT_FOUND');
        await deps.connections.remove(currentUser(res), id);
        res.status(204).end();
      },
    },
    {
      method: 'delete',
      path: '/me/connections',
      format: 'json',
      use,
      handler: async (_req, res) => {
        await deps.connections.unlink(currentUser(res));
        res.status(204).end();
      },
    },
  ];
}
