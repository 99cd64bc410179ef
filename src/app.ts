import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import { ConnectionsService } from './api/connections.js';
import { connectionsCacheOptions } from './api/connections-cache.js';
import { CSRF_EXEMPT_PATHS, csrfGuard } from './api/csrf.js';
import { addApiRoutes } from './api/routes.js';
import { createAuthenticator } from './auth/user.js';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { flowRouter } from './flows/routes.js';
import { FlowStore } from './flows/state.js';
import { createErrorHandler } from './http/error-handler.js';
import { securityHeaders } from './http/security-headers.js';
import { createRateLimits } from './http/rate-limit.js';
import { addOpsRoutes, type Lifecycle } from './ops/health.js';
import { requestContext, type Logger } from './ops/logger.js';
import { Metrics } from './ops/metrics.js';
import type { PowensClient } from './powens/client.js';
import { createKeys } from './storage/keys.js';
import type { RedisClient } from './storage/redis.js';
import { createSessionMiddleware, sessionCookieName } from './storage/session.js';
import { TokenStore } from './storage/tokens.js';
import { APP_CSS } from './web/assets.js';
import { DEMO_JS } from './web/demo-script.js';
import { pagesRouter } from './web/demo.js';
import { webhookReceiver, type WebhookReceiver } from './webhooks/routes.js';

export interface AppDeps {
  config: Config;
  redis: RedisClient;
  powens: PowensClient;
  logger: Logger;
  metrics?: Metrics;
  lifecycle?: Lifecycle;
  now?: () => number;
}

export interface BuiltApp {
  app: Express;
  lifecycle: Lifecycle;
  metrics: Metrics;
  tokens: TokenStore;
  connections: ConnectionsService;
  webhooks: WebhookReceiver;
}

/** Builds the app from its dependencies: middleware order and routers, nothing else. */
export function createApp(deps: AppDeps): BuiltApp {
  const { config, redis, powens, logger } = deps;
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? new Metrics();
  const lifecycle = deps.lifecycle ?? { shuttingDown: false };
  const keys = createKeys(config.redis.prefix);
  // Every storage failure at the Redis boundary is counted (redis_errors_total{kind="command"}).
  const onStoreError = metrics.observeStoreError;
  const tokens = new TokenStore(redis, keys, config.tokenKeys, onStoreError);
  const flows = new FlowStore(redis, keys, now, onStoreError);
  const connections = new ConnectionsService(tokens, powens, redis, keys, { ...connectionsCacheOptions(config), onStoreError });
  const webhooks = webhookReceiver({ config, redis, keys, tokens, connections, logger, now, onStoreError });
  const auth = createAuthenticator(config);
  const limits = createRateLimits({ config, redis, keys, auth, onStoreError });
  const session = createSessionMiddleware(config, redis, keys, onStoreError);
  const selfOrigin = config.publicUrl.origin;

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  app.use(requestContext({ logger, metrics, lifecycle }));
  app.use(securityHeaders(config));

  // The ops, webhook and API routes are added to the app itself, not mounted as nested Routers:
  // a nested Router that matches nothing still runs its own dispatch and hands the request back
  // through setImmediate (Express 5's router), on every request to every later route. Three of
  // them sat before the flow routes.
  addOpsRoutes(app, { redis, lifecycle, metrics, metricsToken: config.metricsToken });
  // Reads its own raw body (signature, gzip, size limit): before any body parser.
  webhooks.addRoutes(app);
  app.get('/assets/app.css', asset('text/css', APP_CSS));
  app.get('/assets/demo.js', asset('text/javascript', DEMO_JS));

  // Browsers may call the API from the app's own origins (CORS_ORIGINS), with credentials.
  app.use(
    cors({
      origin: config.corsOrigins,
      credentials: true,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['Content-Type', 'X-CSRF', 'Authorization', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    }),
  );
  app.use(csrfGuard([selfOrigin, ...config.corsOrigins], CSRF_EXEMPT_PATHS));

  const jsonFormat: RequestHandler = (_req, res, next) => {
    res.locals.format = 'json';
    next();
  };
  // The demo knows its user from the session; the other modes need no session for the API.
  app.use('/me', jsonFormat, limits.perIp, ...(auth.mode === 'demo' ? [session] : []), limits.perUser);
  addApiRoutes(app, { config, auth, connections });

  const pageFormat: RequestHandler = (_req, res, next) => {
    res.locals.format ??= 'page';
    next();
  };
  // Rate limits on the flow routes: per IP before the session is read, per user after it.
  const flowPaths = ['/connect', '/reconnect', '/manage', '/callback'];
  app.use([...flowPaths, '/demo'], pageFormat);
  app.use(flowPaths, limits.perIp);
  app.use([...flowPaths, '/demo'], session);
  app.use(flowPaths, limits.perUser);
  if (auth.mode === 'demo') app.use('/', (req, res, next) => (req.path === '/' ? session(req, res, next) : next()));
  app.use(
    flowRouter({
      config,
      auth,
      flows,
      tokens,
      powens,
      metrics,
      logger,
      sessionCookie: sessionCookieName(config),
      onConnectionsChanged: (userId) => connections.invalidate(userId),
      now,
    }),
  );
  app.use(pagesRouter({ config, auth }));

  app.use((_req, _res, next) => next(new AppError('NOT_FOUND')));
  app.use(createErrorHandler(logger));

  return { app, lifecycle, metrics, tokens, connections, webhooks };
}

function asset(type: string, body: string): RequestHandler {
  return (_req, res) => {
    res.locals.route = '/assets';
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type(type).send(body);
  };
}
