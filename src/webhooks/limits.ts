import type { Request } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors.js';
import { clientKey } from '../limits/rate-limit.js';
import type { Keys } from '../storage/keys.js';
import { redisSpan, reportTiming, storeError, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';
import { failSpan } from '../tracing.js';

const WINDOW_SECONDS = 60;

/**
 * RATE_LIMIT_WEBHOOK_PER_IP: deliveries a minute per client IP, counted in Redis (shared by
 * every instance) before anything of the body is read. Its own counter, apart from the flow
 * and API limit: Powens pushes from a few addresses, in bursts (a first sync of many users), so
 * it needs a larger budget than a browser, and a browser's flood must not use Powens' budget.
 * Like the other limits it fails closed (503) when Redis fails; a refused delivery is only
 * delayed, since Powens retries any non-2xx.
 *
 * Returns undefined when the limit is off (0).
 */
export function webhookRateLimit(deps: {
  points: number;
  redis: RedisClient;
  keys: Keys;
  onStoreError?: StoreErrorObserver;
}): ((req: Request) => Promise<void>) | undefined {
  if (deps.points <= 0) return undefined;
  const limiter = new RateLimiterRedis({
    storeClient: deps.redis,
    keyPrefix: `${deps.keys.rateLimitPrefix}:webhook_ip`,
    points: deps.points,
    duration: WINDOW_SECONDS,
    rejectIfRedisNotReady: true,
    // Past the limit, an address is refused from memory until its window ends: a flood costs no
    // further Redis call on this instance.
    inMemoryBlockOnConsumed: deps.points + 1,
  });
  return async (req) => {
    const started = performance.now();
    const span = redisSpan('rate_limit_webhook');
    try {
      await limiter.consume(clientKey(req));
    } catch (err: unknown) {
      if (err instanceof RateLimiterRes) {
        span.setAttribute('rate_limit.refused', true);
        throw new AppError('RATE_LIMITED', { retryAfter: Math.max(1, Math.ceil(err.msBeforeNext / 1000)), logDetail: { limit: 'webhook_ip' } });
      }
      const mapped = storeError(err, deps.onStoreError);
      failSpan(span, mapped.code);
      throw mapped;
    } finally {
      reportTiming(deps.onStoreError, 'rate_limit_webhook', started);
      span.end();
    }
  };
}
