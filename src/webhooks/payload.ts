import { AppError } from '../errors.js';

/** The events the service acts on; every other event is acknowledged and ignored. */
export const HANDLED_EVENTS = ['CONNECTION_SYNCED', 'CONNECTION_DELETED', 'USER_DELETED'] as const;
export type HandledEvent = (typeof HANDLED_EVENTS)[number];

export function isHandledEvent(value: string | undefined): value is HandledEvent {
  return value !== undefined && (HANDLED_EVENTS as readonly string[]).includes(value);
}

/**
 * An event's name as written in a webhook URL: Powens' name (`CONNECTION_SYNCED`) in any case,
 * with `_` or `-` (`connection-synced`). Anything else is no event's name.
 */
export function eventName(value: string | undefined): string | undefined {
  if (value === undefined || !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(value)) return undefined;
  return value.toUpperCase().replaceAll('-', '_');
}

export type WebhookBody = Record<string, unknown>;

/** The body as a JSON object, or a 400. */
export function parseWebhookBody(text: Buffer): WebhookBody {
  let body: unknown;
  try {
    body = JSON.parse(text.toString('utf8'));
  } catch (err: unknown) {
    throw new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'webhook body is not JSON' } });
  }
  if (!isObject(body)) throw new AppError('BAD_REQUEST', { logDetail: { reason: 'webhook body is not a JSON object' } });
  return body;
}

/** Powens' delivery id (`id_webhook_data`, an integer in every body), for deduplication. */
export function deliveryId(body: WebhookBody): string | undefined {
  const raw = body['id_webhook_data'];
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? String(raw) : undefined;
  return typeof raw === 'string' && /^[\w.:-]{1,128}$/.test(raw) ? raw : undefined;
}

const POWENS_ID = /^[1-9]\d{0,14}$/;

function asId(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value === 'string' && POWENS_ID.test(value)) return Number(value);
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: unknown, name: string): unknown {
  return isObject(value) ? value[name] : undefined;
}

/** The one id the places name; none when none does or two disagree. */
function agreed(...places: unknown[]): number | undefined {
  const ids = new Set(places.map(asId).filter((id): id is number => id !== undefined));
  return ids.size === 1 ? [...ids][0] : undefined;
}

/**
 * The Powens user an event is about, read where that event's payload has it
 * (docs/POWENS-API.md, "Webhooks"):
 * - USER_DELETED: the User object (`id`, `signin`), so the top-level `id`; or `user.id`;
 * - CONNECTION_DELETED: the Connection object, so the top-level `id_user` (its `id` is the
 *   connection's);
 * - CONNECTION_SYNCED: `{ user, connection }`, so `user.id` and `connection.id_user`.
 * Undefined when the body is not shaped like that event's payload.
 *
 * Why this is event-aware, and strict about USER_DELETED. A body is authenticated, but the event
 * is only as authenticated as the URL it came to. On `/webhooks/powens/{event}` the event is in
 * the signed path, so a signed body cannot be moved to another event. On the older
 * `/webhooks/powens?event=...` the query is not signed: whoever holds a signed body could post
 * it again, within WEBHOOK_MAX_AGE_S of its date, under another event's name. Three things make
 * that harmless:
 * 1. The payloads cannot pass for one another. A sync has `connection` (`connections` for the
 *    deprecated USER_SYNCED), a deleted connection, an account or a subscription a top-level
 *    `id_user`; a User object has `signin` beside its `id`. USER_DELETED refuses any body with
 *    `connection`, `connections` or `id_user`, and reads a top-level `id` only next to `signin`:
 *    otherwise a connection's (or a payment's) id would be taken for a user's. Should Powens
 *    ever send a USER_DELETED without `signin`, it is ignored, and the token goes at its next use
 *    instead (Powens refuses the token of a deleted user): the safe side of the mistake.
 * 2. The two connection events only refresh a cached list (the next read asks Powens); only
 *    USER_DELETED drops anything, and only a token that is still that Powens user's.
 * 3. Every authenticated delivery's `id_webhook_data` is remembered for 24 hours whatever its
 *    event, acted on or ignored (routes.ts): a body the service has received is a duplicate
 *    under any other name. What is left is a USER_CREATED body (the same User object) that the
 *    service has not received yet, registered on the query form: taking it from Powens' TLS
 *    traffic and beating Powens to the service. README asks for the path form, which closes
 *    that too.
 */
export function userOf(event: HandledEvent, body: WebhookBody): number | undefined {
  switch (event) {
    case 'USER_DELETED':
      if ('connection' in body || 'connections' in body || 'id_user' in body) return undefined;
      return agreed('signin' in body ? body['id'] : undefined, field(body['user'], 'id'));
    case 'CONNECTION_DELETED':
      return agreed(body['id_user']);
    case 'CONNECTION_SYNCED':
      return agreed(field(body['user'], 'id'), field(body['connection'], 'id_user'));
  }
}

/**
 * For an event the service does not act on, the user a bearer token is checked against: any
 * of the places the handled events use, except a bare top-level `id` (which names a connection,
 * an account... as often as a user). Only used to authenticate, never to act.
 */
export function namedUser(body: WebhookBody): number | undefined {
  return agreed(body['id_user'], field(body['user'], 'id'), field(body['connection'], 'id_user'));
}
