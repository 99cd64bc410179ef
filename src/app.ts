import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import { apiRoutes } from './api/routes.js';
import { createAuthenticator, requireUser } from './auth/user.js';
import type { Config } from './config.js';
import { ConnectionsCache, connectionsCacheOptions } from './connections/cache.js';
import { Connections } from './connections/service.js';
import { AppError } from './errors.js';
import { flowRoutes } from './flows/routes.js';
import { CSRF_EXEMPT_PATHS, csrfGuard } from './http/csrf.js';
import { requestContext } from './http/request-context.js';
import { addRoutes } from './http/routes.js';
import { securityHeaders } from './http/security-headers.js';
import type { Lifecycle } from './lifecycle.js';
import { createRateLimits } from './limits/rate-limit.js';
import type { Logger } from './logging.js';
import { Metrics } from './metrics.js';
import { opsRoutes } from './ops/routes.js';
import type { PowensClient } from './powens/client.js';
import { ConnectorsCatalogue } from './powens/connectors.js';
import { FlowStore } from './storage/flows.js';
import { createKeys } from './storage/keys.js';
import { Wakeups } from './storage/pubsub.js';
import { ReplicaWaiter, watchRedisUp, type RedisClient } from './storage/redis.js';
import { createSessionMiddleware, sessionCookieName } from './storage/session.js';
import { UserSessions } from './storage/user-sessions.js';
import { TokenStore } from './storage/tokens.js';
import { webRoutes } from './web/demo.js';
import { createErrorHandler } from './web/error-handler.js';
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
  connections: Connections;
  webhooks: WebhookReceiver;
  /** Closes what the app opened itself (the pub/sub connection); the Redis client passed in is the caller's to close. */
  close(): void;
}

/**
 * Builds the app from its dependencies: the domain objects, then the middleware every request
 * passes (context, security headers, CORS, CSRF), then each feature's routes, the 404 and the
 * one error handler. Nothing here runs at import time: tests build many apps in one process.
 */
export function createApp(deps: AppDeps): BuiltApp {
  const { config, redis, powens, logger } = deps;
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? new Metrics({ commit: config.gitCommit });
  watchRedisUp(redis, (up) => metrics.redisUp.set(up));
  const lifecycle = deps.lifecycle ?? { shuttingDown: false };
  const keys = createKeys(config.redis.prefix);
  // Every storage failure at the Redis boundary is counted (redis_errors_total{kind="command"}).
  const onStoreError = metrics.observeStoreError;

  // A stored token waits for the replicas (REDIS_MIN_REPLICAS) at most half a command timeout.
  const replicas = new ReplicaWaiter(redis, {
    minReplicas: config.redis.minReplicas,
    waitMs: Math.max(10, Math.floor(config.redis.commandTimeoutMs / 2)),
    onStoreError,
  });
  const tokens = new TokenStore(redis, keys, config.tokenKeys, { onStoreError, replicas });
  const flows = new FlowStore(redis, keys, now, onStoreError);
  const wakeups = new Wakeups(redis, onStoreError);
  const cache = new ConnectionsCache(redis, keys, { ...connectionsCacheOptions(config), onStoreError, wakeups, onEvent: metrics.observeCacheEvent });
  const connections = new Connections({
    tokens,
    powens,
    cache,
    logger,
    now,
    views: { timeZone: config.powens.timeZone, consentWarningDays: config.consentWarningDays },
    metrics,
    linkMode: config.linkMode,
    cleanupBudgetMs: config.powens.timeoutMs,
  });
  const connectors = new ConnectorsCatalogue({
    redis,
    keys,
    powens,
    domain: config.powens.domain,
    ttlSeconds: config.connectorsCacheTtlSeconds,
    logger,
    onStoreError,
  });
  const auth = createAuthenticator(config);
  const limits = createRateLimits({ config, redis, keys, auth, onStoreError, onRejected: (limiter) => metrics.rateLimitRejections.inc({ limiter }) });
  const session = createSessionMiddleware(config, redis, keys, onStoreError);
  const sessions = new UserSessions(redis, keys, flows, logger, onStoreError);
  const webhooks = webhookReceiver({ config, redis, keys, connections, logger, now, metrics, onStoreError });

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');

  app.use(requestContext({ logger, metrics, lifecycle }));
  app.use(securityHeaders(config));
  // Server-to-server and probe routes first: they need neither CORS nor the CSRF guard (the
  // webhook is exempt from it, the probes are GETs), and a health check stays as cheap as it can.
  addRoutes(app, [
    ...opsRoutes({ redis, lifecycle, metrics, metricsToken: config.metricsToken }),
    // Reads its own raw body (signature, gzip, size limit): no body parser runs before it.
    ...webhooks.routes,
  ]);
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
  app.use(csrfGuard([config.publicUrl.origin, ...config.corsOrigins], CSRF_EXEMPT_PATHS));

  // Rate limits on the flow routes and the API: per IP before the session is read, per user after it.
  // The demo knows its user from the session; the other modes need no session for the API.
  const apiLimits: RequestHandler[] = [limits.perIp, ...(auth.mode === 'demo' ? [session] : []), limits.perUser];
  const apiGuards: RequestHandler[] = [...apiLimits, requireUser(auth, config, 'json')];
  addRoutes(app, [
    ...apiRoutes({ config, connections, connectors, guards: apiGuards, limits: apiLimits }),
    ...flowRoutes({
      config,
      auth,
      flows,
      connections,
      sessions,
      metrics,
      sessionCookie: sessionCookieName(config),
      perIp: limits.perIp,
      session,
      perUser: limits.perUser,
      requireUser: requireUser(auth, config, 'page'),
    }),
    ...webRoutes({ config, auth, session, sessions }),
  ]);

  // Unknown paths under the API answer as the API does; any other one by the Accept header.
  app.use('/me', (_req, res, next) => {
    res.locals.format = 'json';
    next(new AppError('NOT_FOUND'));
  });
  app.use((_req, _res, next) => next(new AppError('NOT_FOUND')));
  app.use(createErrorHandler(logger, config));

  return { app, lifecycle, metrics, tokens, connections, webhooks, close: () => wakeups.close() };
}
