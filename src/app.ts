import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { ConnectionsService } from './api/connections.js';
import { csrfGuard } from './api/csrf.js';
import { apiRouter } from './api/routes.js';
import { createAuthenticator } from './auth/user.js';
import type { Config } from './config.js';
import { AppError } from './errors.js';
import { flowRouter } from './flows/routes.js';
import { closeWhenDraining } from './server.js';
import { FlowStore } from './flows/state.js';
import { createErrorHandler } from './http/error-handler.js';
import { opsRouter, type Lifecycle } from './ops/health.js';
import { createHttpLogger, type Logger } from './ops/logger.js';
import { Metrics } from './ops/metrics.js';
import type { PowensClient } from './powens/client.js';
import { createKeys } from './storage/keys.js';
import type { RedisClient } from './storage/redis.js';
import { createSessionMiddleware, sessionCookieName } from './storage/session.js';
import { TokenStore } from './storage/tokens.js';
import { APP_CSS } from './web/assets.js';
import { DEMO_JS } from './web/demo-script.js';
import { pagesRouter } from './web/demo.js';

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
}

/** Builds the app from its dependencies: middleware order and routers, nothing else. */
export function createApp(deps: AppDeps): BuiltApp {
  const { config, redis, powens, logger } = deps;
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? new Metrics();
  const lifecycle = deps.lifecycle ?? { shuttingDown: false };
  const keys = createKeys(config.redis.prefix);
  const tokens = new TokenStore(redis, keys, config.tokenKeys);
  const flows = new FlowStore(redis, keys, now);
  const connections = new ConnectionsService(tokens, powens, redis, keys);
  const auth = createAuthenticator(config);
  const session = createSessionMiddleware(config, redis, keys);
  const selfOrigin = config.publicUrl.origin;

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  app.use(createHttpLogger(logger));
  app.use(closeWhenDraining(lifecycle));
  app.use(requestMetrics(metrics));
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
          ...(config.secureCookies ? { upgradeInsecureRequests: [] } : {}),
        },
      },
      strictTransportSecurity: config.secureCookies ? { maxAge: 31536000, includeSubDomains: true } : false,
      referrerPolicy: { policy: 'no-referrer' },
      crossOriginEmbedderPolicy: false,
    }),
  );

  app.use(opsRouter({ redis, lifecycle, metrics, metricsToken: config.metricsToken }));
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
  app.use(csrfGuard([selfOrigin, ...config.corsOrigins], ['/webhooks/powens']));

  const api = apiRouter({ config, auth, connections });
  const jsonFormat: RequestHandler = (_req, res, next) => {
    res.locals.format = 'json';
    next();
  };
  // The demo knows its user from the session; the other modes need no session for the API.
  app.use('/me', jsonFormat, ...(auth.mode === 'demo' ? [session] : []));
  app.use(api);

  const pageFormat: RequestHandler = (_req, res, next) => {
    res.locals.format ??= 'page';
    next();
  };
  app.use(['/connect', '/reconnect', '/manage', '/callback', '/demo'], pageFormat, session);
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

  return { app, lifecycle, metrics, tokens, connections };
}

function asset(type: string, body: string): RequestHandler {
  return (_req, res) => {
    res.locals.route = '/assets';
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type(type).send(body);
  };
}

/** Request duration by route template (set by each handler), never by raw path. */
function requestMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
