import type { Request, Response } from 'express';
import type { Config } from '../config.js';
import type { Connections } from '../connections/service.js';
import { AppError } from '../errors.js';
import { singleParam } from '../http/params.js';
import type { RouteSpec } from '../http/routes.js';
import { safeError, type Logger } from '../logging.js';
import type { Keys } from '../storage/keys.js';
import { guard, type RedisClient, type StoreErrorObserver } from '../storage/redis.js';
import { bearerToken, checkSignature, hasSignature } from './auth.js';
import { readWebhookBody } from './body.js';
import { isHandledEvent, parseWebhookPayload, type HandledEvent } from './payload.js';
import { WorkQueue } from './queue.js';

export const WEBHOOK_PATH = '/webhooks/powens';
/** Powens may deliver an event again; a delivery id is remembered this long. */
const DEDUP_SECONDS = 24 * 3600;

export interface WebhookDeps {
  config: Config;
  redis: RedisClient;
  keys: Keys;
  connections: Connections;
  logger: Logger;
  now: () => number;
  /** Told of Redis failures (metrics). */
  onStoreError?: StoreErrorObserver;
}

export interface WebhookReceiver {
  routes: RouteSpec[];
  /** Resolves once the work of every accepted webhook is done. */
  idle(): Promise<void>;
}

type Outcome = 'accepted' | 'duplicate' | 'ignored';

/**
 * POST /webhooks/powens (README, "Webhooks"). The event's name is the `event` query parameter
 * (each event's URL in the Powens console carries it). Authenticated by `BI-Signature` when
 * WEBHOOK_HMAC_SECRET is set, else by the bearer token of the user the payload names. The
 * answer is sent once the delivery is authenticated and deduplicated; the work runs after it.
 */
export function webhookReceiver(deps: WebhookDeps): WebhookReceiver {
  const { config, redis, keys, connections, logger } = deps;
  const queue = new WorkQueue(4, 10_000, (err) => logger.error({ err: safeError(err) }, 'webhook work failed'));

  async function work(event: HandledEvent, powensUserId: number, knownUser: string | null): Promise<void> {
    const userId = knownUser ?? (await connections.appUserOf(powensUserId));
    if (userId === null) {
      logger.info({ event, powensUserId }, 'webhook for a Powens user the service does not know; ignored');
      return;
    }
    if (event === 'USER_DELETED') await connections.powensUserDeleted(userId, powensUserId);
    else await connections.changed(userId);
  }

  const receive = async (req: Request, res: Response): Promise<void> => {
    const secret = config.webhookHmacSecret;
    const signed = secret !== undefined && hasSignature(req.headers);
    const given = signed ? undefined : bearerToken(req.headers);
    // No credential at all: refused before the body is read (or inflated), so an anonymous
    // sender neither gets another answer than 401 nor makes us buffer up to the body limit.
    if (!signed && given === undefined) {
      throw new AppError('WEBHOOK_UNAUTHORIZED', { logDetail: { reason: 'no signature and no bearer token' } });
    }
    const body = await readWebhookBody(req, config.webhookBodyLimitBytes);

    if (signed) {
      const bodies = body.wire === body.payload ? [body.payload] : [body.payload, body.wire];
      const check = checkSignature(secret, { method: req.method, path: req.originalUrl, headers: req.headers }, bodies, deps.now());
      if (!check.ok) throw new AppError('WEBHOOK_UNAUTHORIZED', { logDetail: { reason: check.reason } });
    }
    const payload = parseWebhookPayload(body.payload);
    let knownUser: string | null = null;
    if (given !== undefined) {
      knownUser = payload.powensUserId === undefined ? null : await connections.appUserWithToken(payload.powensUserId, given);
      if (knownUser === null) throw new AppError('WEBHOOK_UNAUTHORIZED', { logDetail: { reason: 'bearer token does not match' } });
    }

    const event = singleParam(req.query, 'event', 64);
    const answer = (status: number, outcome: Outcome): void => {
      req.log?.info({ event: event?.replace(/[^A-Z_]/g, '?'), idWebhookData: payload.idWebhookData, outcome }, 'webhook received');
      res.setHeader('Cache-Control', 'no-store');
      res.status(status).json({ status: outcome });
    };
    if (!isHandledEvent(event) || payload.powensUserId === undefined) {
      answer(200, 'ignored');
      return;
    }
    if (!queue.hasRoom()) throw new AppError('STORE_UNAVAILABLE', { retryAfter: 30, logDetail: { reason: 'webhook queue full' } });
    if (payload.idWebhookData !== undefined) {
      const first = await guard(redis.set(keys.webhookSeen(payload.idWebhookData), '1', 'EX', DEDUP_SECONDS, 'NX'), deps.onStoreError);
      if (first !== 'OK') {
        answer(200, 'duplicate');
        return;
      }
    }
    const powensUserId = payload.powensUserId;
    if (!queue.push(() => work(event, powensUserId, knownUser))) {
      // Filled up while deduplicating: forget the delivery so that its retry is not a duplicate.
      if (payload.idWebhookData !== undefined) await guard(redis.del(keys.webhookSeen(payload.idWebhookData)), deps.onStoreError);
      throw new AppError('STORE_UNAVAILABLE', { retryAfter: 30, logDetail: { reason: 'webhook queue full' } });
    }
    answer(202, 'accepted');
  };

  return {
    routes: [{ method: 'post', path: WEBHOOK_PATH, format: 'json', handler: receive }],
    idle: () => queue.idle(),
  };
}
