import type { IRouter } from 'express';
import type { Metrics } from './metrics.js';
import type { RedisClient } from '../storage/redis.js';
import { safeEqual } from '../crypto.js';

export interface Lifecycle {
  /** Set on SIGTERM/SIGINT: readiness answers 503 from then on. */
  shuttingDown: boolean;
}

const PING_TIMEOUT_MS = 1000;

async function redisAnswers(redis: RedisClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    });
    return await Promise.race([redis.ping().then((r) => r === 'PONG'), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Adds /healthz, /readyz and /metrics to the app (app.ts says why not a nested Router). */
export function addOpsRoutes(router: IRouter, deps: { redis: RedisClient; lifecycle: Lifecycle; metrics: Metrics; metricsToken: string | undefined }): void {
  router.get('/healthz', (_req, res) => {
    res.locals.route = '/healthz';
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    res.locals.route = '/readyz';
    res.setHeader('Cache-Control', 'no-store');
    if (deps.lifecycle.shuttingDown) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    if (!(await redisAnswers(deps.redis))) {
      res.status(503).json({ status: 'redis_unavailable' });
      return;
    }
    res.json({ status: 'ready' });
  });
  router.get('/metrics', async (req, res) => {
    res.locals.route = '/metrics';
    if (deps.metricsToken !== undefined) {
      const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!safeEqual(given, deps.metricsToken)) {
        res.status(401).setHeader('WWW-Authenticate', 'Bearer').json({ status: 'unauthorized' });
        return;
      }
    }
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
}
