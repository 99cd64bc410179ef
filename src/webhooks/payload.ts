import { AppError } from '../errors.js';

/** The events the service acts on; every other event is acknowledged and ignored. */
export const HANDLED_EVENTS = ['CONNECTION_SYNCED', 'CONNECTION_DELETED', 'USER_DELETED'] as const;
export type HandledEvent = (typeof HANDLED_EVENTS)[number];

export function isHandledEvent(value: string | undefined): value is HandledEvent {
  return value !== undefined && (HANDLED_EVENTS as readonly string[]).includes(value);
}

export interface WebhookPayload {
  /** Powens' delivery id, for deduplication; absent in hand-made payloads. */
  idWebhookData: string | undefined;
  /** The Powens user the event is about; undefined when the payload names none, or two different ones. */
  powensUserId: number | undefined;
}

const POWENS_ID = /^[1-9]\d{0,14}$/;

function asId(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value === 'string' && POWENS_ID.test(value)) return Number(value);
  return undefined;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[name] : undefined;
}

/**
 * The fields the service needs from a payload. Events name their user in different places:
 * `id_user` (a deleted connection), `user.id` (user events, syncs) or `connection.id_user`
 * (syncs); a payload naming two different users names none.
 */
export function parseWebhookPayload(text: Buffer): WebhookPayload {
  let body: unknown;
  try {
    body = JSON.parse(text.toString('utf8'));
  } catch (err: unknown) {
    throw new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'webhook body is not JSON' } });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('BAD_REQUEST', { logDetail: { reason: 'webhook body is not a JSON object' } });
  }
  const rawDelivery = field(body, 'id_webhook_data');
  const idWebhookData =
    (typeof rawDelivery === 'number' && Number.isFinite(rawDelivery)) || (typeof rawDelivery === 'string' && /^[\w.:-]{1,128}$/.test(rawDelivery))
      ? String(rawDelivery)
      : undefined;
  const named = [field(body, 'id_user'), field(field(body, 'user'), 'id'), field(field(body, 'connection'), 'id_user')]
    .map(asId)
    .filter((id): id is number => id !== undefined);
  const distinct = new Set(named);
  return { idWebhookData, powensUserId: distinct.size === 1 ? named[0] : undefined };
}
