import { safeEqual } from '../crypto.js';
import type { RouteSpec } from '../http/routes.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../storage/redis.js';

export interface OpsDeps {
  redis: RedisClient;
  lifecycle: Lifecycle;
  metrics: Metrics;
  metricsToken: string | undefined;
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

/** /healthz (the process runs), /readyz (Redis answers, not shutting down) and /metrics. */
export function opsRoutes(deps: OpsDeps): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/healthz',
      format: 'json',
      handler: (_req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        res.json({ status: 'ok' });
      },
    },
    {
      method: 'get',
      path: '/readyz',
      format: 'json',
      handler: async (_req, res) => {
        res.setHeader('Cache-Control', 'no-store');
        // service_ready follows what the probe was last told, so a dashboard sees what the load balancer sees.
        if (deps.lifecycle.shuttingDown) {
          deps.metrics.serviceReady.set(0);
          res.status(503).json({ status: 'shutting_down' });
          return;
        }
        if (!(await redisAnswers(deps.redis))) {
          deps.metrics.serviceReady.set(0);
          res.status(503).json({ status: 'redis_unavailable' });
          return;
        }
        deps.metrics.serviceReady.set(1);
        res.json({ status: 'ready' });
      },
    },
    {
      method: 'get',
      path: '/metrics',
      format: 'json',
      handler: async (req, res) => {
        if (deps.metricsToken !== undefined) {
          const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
          if (!safeEqual(given, deps.metricsToken)) {
            res.status(401).setHeader('WWW-Authenticate', 'Bearer').json({ status: 'unauthorized' });
            return;
          }
        }
        res.setHeader('Content-Type', deps.metrics.registry.contentType);
        res.send(await deps.metrics.registry.metrics());
      },
    },
  ];
}
