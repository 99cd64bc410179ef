import type { Request, Response } from 'express';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { AppError, isAppError, type ErrorCode } from '../errors.js';
import type { RouteSpec } from '../http/routes.js';
import { safeError, type Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import type { Keys } from '../storage/keys.js';
import { guard, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';
import { bearerToken, hasSignature, readSignatureHeaders, StreamingSignature } from './auth.js';
import { checkBodyHeaders, readWebhookBody } from './body.js';
import { webhookRateLimit } from './limits.js';
import { deliveryId, eventName, isHandledEvent, namedUser, parseWebhookBody, userOf, type HandledEvent, type WebhookBody } from './payload.js';
import { WorkQueue } from './queue.js';

export const WEBHOOK_PATH = '/webhooks/powens';
/** One URL per event, as registered in the Powens console: `/webhooks/powens/CONNECTION_SYNCED`. */
export const WEBHOOK_EVENT_PATH = `${WEBHOOK_PATH}/:event`;
/** Powens may deliver an event again; a delivery id is remembered this long. */
const DEDUP_SECONDS = 24 * 3600;
/** Bodies in flight free up within seconds: come back soon. */
const BUSY_RETRY_AFTER_S = 5;
/** A full work queue drains more slowly. */
const QUEUE_FULL_RETRY_AFTER_S = 30;

export interface WebhookDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  connections: Connections;
  logger: Logger;
  now: () => number;
  metrics?: Metrics;
  /** Told of Redis failures (metrics). */
  onStoreError?: StoreErrorObserver;
}

export interface WebhookReceiver {
  routes: RouteSpec[];
  /** Resolves once the work of every accepted webhook is done. */
  idle(): Promise<void>;
}

/** webhook_deliveries_total's outcomes (docs/REFERENCE.md, "Webhooks"). */
type Outcome = 'accepted' | 'duplicate' | 'ignored' | 'unauthorized' | 'rejected' | 'throttled' | 'failed';

function outcomeOf(err: unknown): Outcome {
  const status = isAppError(err) ? err.status : 500;
  if (status === 401) return 'unauthorized';
  if (status === 429 || status === 503) return 'throttled';
  return status >= 400 && status < 500 ? 'rejected' : 'failed';
}

/** The `event` query parameter of the older URL form, when it is one plain value. */
function queryEvent(req: Request): string | undefined {
  const value: unknown = (req.query as Record<string, unknown>)['event'];
  return typeof value === 'string' ? value : undefined;
}

/**
 * POST /webhooks/powens/{event}, and the older POST /webhooks/powens?event={event} (README,
 * "Webhooks and the connections cache"; docs/REFERENCE.md, "Webhooks").
 *
 * Everything that can be refused from the headers is refused before a byte of the body is read,
 * with `Connection: close` so that Node does not read the body either: no credential, a bearer
 * token while WEBHOOK_HMAC_SECRET is set, a signature that is not an HMAC-SHA256 in base64, a
 * signature date missing or out of WEBHOOK_MAX_AGE_S, an encoding or a declared size we refuse,
 * the per-IP rate limit, and more than WEBHOOK_MAX_BODIES_IN_FLIGHT bodies already being read.
 * Then the body streams through the signature and the inflater, bounded by
 * WEBHOOK_BODY_LIMIT_BYTES. So an unauthenticated sender makes the process hold at most
 * WEBHOOK_MAX_BODIES_IN_FLIGHT x WEBHOOK_BODY_LIMIT_BYTES of bodies, whatever it sends.
 *
 * The answer is sent once the delivery is authenticated and deduplicated; the work runs after
 * it, in a bounded queue.
 */
export function webhookReceiver(deps: WebhookDeps): WebhookReceiver {
  const { config, redis, keys, connections, logger, metrics } = deps;
  const queue = new WorkQueue(
    4,
    10_000,
    (err) => logger.error({ err: safeError(err) }, 'webhook work failed'),
    (depth) => metrics?.webhookQueueDepth.set(depth),
  );
  const perIp = webhookRateLimit({ points: config.webhookRateLimitPerIp, redis, keys, ...(deps.onStoreError ? { onStoreError: deps.onStoreError } : {}) });
  // Powens signs the path of the URL registered in its console, which is PUBLIC_URL's (a proxy
  // may strip PUBLIC_URL's path before the request gets here).
  const publicPrefix = config.publicUrl.pathname.replace(/\/+$/, '');
  const maxAgeMs = config.webhookMaxAgeSeconds * 1000;
  const limit = config.webhookBodyLimitBytes;
  let bodiesInFlight = 0;

  async function work(event: HandledEvent, powensUserId: number, knownUser: string | null): Promise<void> {
    const userId = knownUser ?? (await connections.appUserOf(powensUserId));
    if (userId === null) {
      logger.info({ event, powensUserId }, 'webhook for a Powens user the service does not know; ignored');
      return;
    }
    if (event === 'USER_DELETED') await connections.powensUserDeleted(userId, powensUserId);
    else await connections.changed(userId);
  }

  /** A refusal before the body is read: the connection closes rather than read what is left. */
  const unread = (res: Response, code: ErrorCode, logDetail: Record<string, unknown>, retryAfter?: number): AppError => {
    res.setHeader('Connection', 'close');
    return new AppError(code, { logDetail, ...(retryAfter !== undefined ? { retryAfter } : {}) });
  };

  /** The path Powens signed: the request's own path as sent, without its query, under PUBLIC_URL's path. */
  const signedPath = (req: Request): string => {
    const raw = req.originalUrl;
    const query = raw.indexOf('?');
    return publicPrefix + (query === -1 ? raw : raw.slice(0, query));
  };

  const deliver = async (req: Request, res: Response, event: string | undefined): Promise<Outcome> => {
    // 1. The credential, from the headers alone.
    const secret = config.webhookHmacSecret;
    let signature: { given: Buffer; date: string } | undefined;
    let bearer: string | undefined;
    if (secret !== undefined) {
      // With a secret set, only signed deliveries count: a bearer token is not a credential then
      // (it would let whoever holds one user's token skip the signature). A signed delivery that
      // also carries an Authorization header is judged by its signature alone.
      const check = readSignatureHeaders(req.headers, deps.now(), maxAgeMs);
      if (!check.ok) {
        const reason =
          check.reason === 'no signature' && bearerToken(req.headers) !== undefined ? 'bearer token while WEBHOOK_HMAC_SECRET is set' : check.reason;
        throw unread(res, 'WEBHOOK_UNAUTHORIZED', { reason });
      }
      signature = { given: check.signature, date: check.date };
    } else {
      bearer = bearerToken(req.headers);
      if (bearer === undefined) {
        throw unread(res, 'WEBHOOK_UNAUTHORIZED', { reason: hasSignature(req.headers) ? 'signature without WEBHOOK_HMAC_SECRET' : 'no bearer token' });
      }
    }

    // 2. What the headers say of the body; 3. the rate limit; 4. the bound on bodies in flight.
    let encoding;
    try {
      encoding = checkBodyHeaders(req.headers, limit);
      await perIp?.(req);
    } catch (err: unknown) {
      res.setHeader('Connection', 'close');
      if (isAppError(err) && err.code === 'RATE_LIMITED') metrics?.rateLimitRejections.inc({ limiter: 'webhook_ip' });
      throw err;
    }
    if (bodiesInFlight >= config.webhookMaxBodiesInFlight) {
      throw unread(res, 'WEBHOOK_BUSY', { reason: 'webhook bodies in flight', max: config.webhookMaxBodiesInFlight }, BUSY_RETRY_AFTER_S);
    }

    // 5. The body, streamed through the signature and the inflater.
    bodiesInFlight += 1;
    metrics?.webhookBodiesInFlight.set(bodiesInFlight);
    let body: WebhookBody;
    try {
      const mac =
        signature === undefined || secret === undefined
          ? undefined
          : new StreamingSignature(secret, 'POST', signedPath(req), signature.date, encoding === 'gzip');
      let chunks: Buffer[];
      try {
        chunks = await readWebhookBody(req, { encoding, limit, ...(mac !== undefined ? { onWire: mac.onWire, onPayload: mac.onPayload } : {}) });
      } catch (err: unknown) {
        // Refused while reading: what is left of the body stays unread.
        res.setHeader('Connection', 'close');
        throw err;
      }
      if (mac !== undefined && signature !== undefined && !mac.matches(signature.given)) {
        throw new AppError('WEBHOOK_UNAUTHORIZED', { logDetail: { reason: 'bad signature' } });
      }
      body = parseWebhookBody(Buffer.concat(chunks));
    } finally {
      bodiesInFlight -= 1;
      metrics?.webhookBodiesInFlight.set(bodiesInFlight);
    }

    // 6. Who it is about; a bearer token must be that user's own.
    const powensUserId = isHandledEvent(event) ? userOf(event, body) : undefined;
    let knownUser: string | null = null;
    if (bearer !== undefined) {
      const named = isHandledEvent(event) ? powensUserId : namedUser(body);
      knownUser = named === undefined ? null : await connections.appUserWithToken(named, bearer);
      if (knownUser === null) {
        throw new AppError('WEBHOOK_UNAUTHORIZED', {
          logDetail: { reason: named === undefined ? 'the payload names no user for the token' : 'bearer token does not match' },
        });
      }
    }

    // 7. Authenticated. Every delivery id is remembered, acted on or not, so that a body seen
    // once is a duplicate under any event's name (payload.ts, userOf, says why).
    const idWebhookData = deliveryId(body);
    const answer = (status: number, outcome: Outcome): Outcome => {
      req.log?.info({ event: event ?? null, idWebhookData, outcome }, 'webhook received');
      res.setHeader('Cache-Control', 'no-store');
      res.status(status).json({ status: outcome });
      return outcome;
    };
    const act = isHandledEvent(event) && powensUserId !== undefined;
    if (act && !queue.hasRoom()) throw new AppError('WEBHOOK_BUSY', { retryAfter: QUEUE_FULL_RETRY_AFTER_S, logDetail: { reason: 'webhook queue full' } });
    if (idWebhookData !== undefined) {
      const first = await guard(redis.set(keys.webhookSeen(idWebhookData), '1', 'EX', DEDUP_SECONDS, 'NX'), deps.onStoreError, 'webhook_dedup');
      if (first !== 'OK') return answer(200, 'duplicate');
    }
    if (!act) return answer(200, 'ignored');
    const job = (): Promise<void> =>
      work(event, powensUserId, knownUser).catch((err: unknown) => {
        metrics?.webhookDeliveries.inc({ event, outcome: 'failed' });
        throw err;
      });
    if (!queue.push(job)) {
      // Filled up while deduplicating: forget the delivery so that its retry is not a duplicate.
      if (idWebhookData !== undefined) await guard(redis.del(keys.webhookSeen(idWebhookData)), deps.onStoreError, 'webhook_dedup_release');
      throw new AppError('WEBHOOK_BUSY', { retryAfter: QUEUE_FULL_RETRY_AFTER_S, logDetail: { reason: 'webhook queue full' } });
    }
    return answer(202, 'accepted');
  };

  const receive = async (req: Request, res: Response): Promise<void> => {
    const inPath = req.params['event'];
    const event = eventName(typeof inPath === 'string' ? inPath : queryEvent(req));
    const label = isHandledEvent(event) ? event : 'other';
    let outcome: Outcome = 'failed';
    try {
      outcome = await deliver(req, res, event);
    } catch (err: unknown) {
      outcome = outcomeOf(err);
      throw err;
    } finally {
      metrics?.webhookDeliveries.inc({ event: label, outcome });
    }
  };

  return {
    routes: [
      { method: 'post', path: WEBHOOK_EVENT_PATH, format: 'json', handler: receive },
      { method: 'post', path: WEBHOOK_PATH, format: 'json', handler: receive },
    ],
    idle: () => queue.idle(),
  };
}
