import type { Request, RequestHandler } from 'express';
import { isIP } from 'node:net';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Authenticator } from '../auth/user.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Keys } from '../storage/keys.js';
import { redisSpan, reportTiming, storeError, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';
import { failSpan } from '../tracing.js';

/** Both limits count requests per minute (RATE_LIMIT_PER_IP, RATE_LIMIT_PER_USER). */
const WINDOW_SECONDS = 60;

export interface RateLimits {
  /** Per client IP; before the session is loaded, so a flood costs one Redis call a request. */
  perIp: RequestHandler;
  /** Per app user; after the session (the demo knows its user from it). */
  perUser: RequestHandler;
}

export interface RateLimitDeps {
  config: Pick<Config, 'rateLimit'>;
  redis: RedisClient;
  keys: Keys;
  auth: Authenticator;
  onStoreError?: StoreErrorObserver;
  /** Told of each request a limit refused (rate_limit_rejections_total{limiter}). */
  onRejected?: (limiter: 'ip' | 'user') => void;
}

const pass: RequestHandler = (_req, _res, next) => next();

/**
 * Fixed one-minute windows counted in Redis (rate-limiter-flexible: one atomic INCR+PEXPIRE
 * script per request), so every instance shares the counts. A limit of 0 turns it off.
 *
 * When Redis fails, the request fails with 503 (fail closed) rather than going through
 * unlimited: the same Redis holds the sessions, flows and tokens, so such a request could not
 * have succeeded anyway, and a limiter that opens whenever Redis struggles would let a flood
 * through exactly when the service is weakest. `rejectIfRedisNotReady` makes that failure
 * immediate while disconnected (no waiting on a reconnect); a Redis that accepts but does not
 * answer is bounded by the client's commandTimeout.
 */
export function createRateLimits(deps: RateLimitDeps): RateLimits {
  const { perIp, perUser } = deps.config.rateLimit;
  const limiter = (points: number, name: 'ip' | 'user'): RateLimiterRedis =>
    new RateLimiterRedis({
      storeClient: deps.redis,
      keyPrefix: `${deps.keys.rateLimitPrefix}:${name}`,
      points,
      duration: WINDOW_SECONDS,
      rejectIfRedisNotReady: true,
      // Past the limit, a key is refused from memory until its window ends: a client that keeps
      // hammering costs no further Redis call on this instance.
      inMemoryBlockOnConsumed: points + 1,
    });

  const consume = async (rl: RateLimiterRedis, key: string, name: 'ip' | 'user'): Promise<void> => {
    const started = performance.now();
    // The limiter's name only: the key is an address or a user id.
    const operation = name === 'ip' ? 'rate_limit_ip' : 'rate_limit_user';
    const span = redisSpan(operation);
    span.setAttribute('rate_limit.limiter', name);
    try {
      await rl.consume(key);
    } catch (err: unknown) {
      if (err instanceof RateLimiterRes) {
        span.setAttribute('rate_limit.refused', true);
        deps.onRejected?.(name);
        throw new AppError('RATE_LIMITED', {
          retryAfter: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
          logDetail: { limit: name },
        });
      }
      const mapped = storeError(err, deps.onStoreError);
      failSpan(span, mapped.code);
      throw mapped;
    } finally {
      // A refusal from memory (inMemoryBlockOnConsumed) is timed too: it is the limiter's cost.
      reportTiming(deps.onStoreError, operation, started);
      span.end();
    }
  };

  const ipLimiter = perIp > 0 ? limiter(perIp, 'ip') : undefined;
  const userLimiter = perUser > 0 ? limiter(perUser, 'user') : undefined;

  return {
    perIp:
      ipLimiter === undefined
        ? pass
        : async (req, _res, next) => {
            await consume(ipLimiter, clientKey(req), 'ip');
            next();
          },
    perUser:
      userLimiter === undefined
        ? pass
        : async (req, _res, next) => {
            // The user as the route will see it. No user, or an invalid id: nothing to count
            // here; the route's requireUser answers that request.
            const userId = await deps.auth.userId(req).catch(() => null);
            if (userId !== null) await consume(userLimiter, encodeURIComponent(userId), 'user');
            next();
          },
  };
}

/** The bucket of every request whose address is not a valid IP address (there should be none). */
export const INVALID_ADDRESS_KEY = 'invalid-address';

/**
 * The client as the limit sees it: req.ip, which honours TRUST_PROXY (the address the trusted
 * proxies saw, from X-Forwarded-For; without TRUST_PROXY the header is ignored, so a client
 * cannot pick a fresh identity per request). IPv4-mapped IPv6 addresses count as IPv4, and an
 * IPv6 address counts by its /64: one subscriber line gets a whole /64 to pick addresses from.
 * Only a valid address (net.isIP) becomes a key: anything else a trusted proxy might pass on
 * (`unknown`, a port, 8 kB of junk) shares one bucket, so no client string reaches Redis as a
 * key and none can grow the key space.
 */
export function clientKey(req: Pick<Request, 'ip' | 'socket'>): string {
  const ip = req.ip ?? req.socket.remoteAddress ?? '';
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return INVALID_ADDRESS_KEY;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] !== undefined && isIP(mapped[1]) === 4) return mapped[1];
  return `${ipv6Prefix64(ip)}::/64`;
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` gives `2001:db8:0:0`). */
export function ipv6Prefix64(ip: string): string {
  const bare = ip.split('%')[0] ?? ip;
  const [head = '', tail] = bare.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? g.toLowerCase().replace(/^0+(?=.)/, '') : '0'))
    .join(':');
}
