/**
 * Webhooks as Powens sends them: JSON POSTed to the URL set up for an event, authenticated by
 * the user's bearer token or signed (`BI-Signature`, `BI-Signature-Date`), possibly gzipped.
 * The event's name travels in the URL's `event` query parameter, as the service expects.
 */
import { createHmac, randomInt } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { EmulatorStore, PowensConnection } from './store.js';
import { isRecord } from './util.js';

export const WEBHOOK_EVENTS = ['USER_CREATED', 'USER_DELETED', 'CONNECTION_SYNCED', 'CONNECTION_DELETED'] as const;
export type BuiltWebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface SendWebhookOptions {
  /** Signs the delivery with this secret (HMAC-SHA256 of `METHOD.path.date.body`). */
  hmacSecret?: string;
  /** Sends `Authorization: Bearer <bearer>` (Powens' default: the user's token). */
  bearer?: string;
  /** Compresses the body (`Content-Encoding: gzip`); the signature covers the JSON text. */
  gzip?: boolean;
  /** The signature date, default now; a string is sent as is (to test a malformed one). */
  date?: Date | string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface WebhookDelivery {
  /** The URL posted to (with the `event` parameter). */
  url: string;
  status: number;
  /** The answer's body as text. */
  body: string;
  /** The payload's `id_webhook_data`. */
  idWebhookData: unknown;
}

/** Which data a built payload is about. */
export interface WebhookSubject {
  userId?: number;
  connectionId?: number;
}

/** The webhook's signature, exactly as Powens documents it. */
export function signWebhook(secret: string, method: string, path: string, date: string, body: string): string {
  return createHmac('sha256', secret).update(`${method}.${path}.${date}.${body}`, 'utf8').digest('base64');
}

/** A source of `id_webhook_data` values: random start, then increasing, like delivery ids. */
export function webhookIds(): () => number {
  let next = randomInt(1, 2 ** 31);
  return () => next++;
}

/**
 * POSTs one webhook. `payload` is sent as JSON; an object without `id_webhook_data` gets one
 * from `nextId`. A string payload is sent as is (to test malformed JSON).
 */
export async function sendWebhook(
  url: string,
  event: string,
  payload: unknown,
  options: SendWebhookOptions = {},
  nextId: () => number = webhookIds(),
): Promise<WebhookDelivery> {
  const target = new URL(url);
  if (!target.searchParams.has('event')) target.searchParams.set('event', event);
  const withId = isRecord(payload) && payload['id_webhook_data'] === undefined ? { id_webhook_data: nextId(), ...payload } : payload;
  const text = typeof withId === 'string' ? withId : JSON.stringify(withId);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Powens-Webhooks (emulator)' };
  if (options.hmacSecret !== undefined) {
    const date = typeof options.date === 'string' ? options.date : (options.date ?? new Date()).toISOString();
    headers['bi-signature-date'] = date;
    headers['bi-signature'] = signWebhook(options.hmacSecret, 'POST', `${target.pathname}${target.search}`, date, text);
  }
  if (options.bearer !== undefined) headers['authorization'] = `Bearer ${options.bearer}`;
  let body: string | Uint8Array = text;
  if (options.gzip === true) {
    body = new Uint8Array(gzipSync(text));
    headers['content-encoding'] = 'gzip';
  }
  Object.assign(headers, options.headers ?? {});
  const res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual' });
  return {
    url: target.href,
    status: res.status,
    body: await res.text(),
    idWebhookData: isRecord(withId) ? withId['id_webhook_data'] : undefined,
  };
}

function userJson(store: EmulatorStore, userId: number): Record<string, unknown> {
  const user = store.user(userId);
  return { id: userId, signin: user?.signin ?? null, platform: 'emulator' };
}

/** One checking account per connection, with a few transactions: the shape of a sync's data. */
function accountsOf(connection: PowensConnection): Record<string, unknown>[] {
  const id = connection.id * 100 + 1;
  const date = (connection.last_update ?? connection.created).slice(0, 10);
  return [
    {
      id,
      id_connection: connection.id,
      id_user: connection.id_user,
      number: `3002900000${String(id).padStart(6, '0')}`,
      original_name: 'Compte de chèques',
      name: 'Compte de chèques',
      balance: 1523.42,
      coming: null,
      currency: { id: 'EUR', symbol: '€', prefix: false, precision: 2 },
      type: 'checking',
      display: true,
      disabled: null,
      deleted: null,
      last_update: connection.last_update,
      iban: `FR7630002900000${String(id).padStart(12, '0')}`,
      transactions: [1, 2, 3].map((n) => ({
        id: id * 1000 + n,
        id_account: id,
        date,
        rdate: date,
        value: -12.5 * n,
        original_wording: `CARTE X1234 ACHAT ${n}`,
        wording: `Achat ${n}`,
        type: 'card',
        coming: false,
        active: true,
      })),
    },
  ];
}

/**
 * A payload of `event` as Powens builds it, from the emulator's data:
 * - USER_CREATED, USER_DELETED: `{ user: { id, signin, platform } }`;
 * - CONNECTION_SYNCED: `{ user, connection }`, the connection with its accounts and transactions;
 * - CONNECTION_DELETED: the deleted connection's fields at the top level (`id`, `id_user`, ...).
 * A connection that no longer exists is described by `connectionId` and `userId` alone.
 */
export function buildWebhookPayload(store: EmulatorStore, now: Date, event: BuiltWebhookEvent, subject: WebhookSubject): Record<string, unknown> {
  const record = subject.connectionId === undefined ? undefined : store.connection(subject.connectionId);
  const connection = record === undefined ? undefined : store.toPowens(record, true);
  const userId = subject.userId ?? connection?.id_user;
  if (userId === undefined) throw new TypeError(`${event} needs a userId, or the connectionId of an existing connection`);
  switch (event) {
    case 'USER_CREATED':
    case 'USER_DELETED':
      return { user: userJson(store, userId) };
    case 'CONNECTION_SYNCED':
      if (connection === undefined) throw new TypeError('CONNECTION_SYNCED needs the connectionId of an existing connection');
      return { user: userJson(store, userId), connection: { ...connection, accounts: accountsOf(connection) } };
    case 'CONNECTION_DELETED': {
      if (subject.connectionId === undefined) throw new TypeError('CONNECTION_DELETED needs a connectionId');
      const deleted = store.date(now);
      if (connection === undefined) return { id: subject.connectionId, id_user: userId, deleted };
      const { connector: _connector, ...fields } = connection;
      return { ...fields, deleted };
    }
  }
}

export function isBuiltWebhookEvent(value: unknown): value is BuiltWebhookEvent {
  return typeof value === 'string' && (WEBHOOK_EVENTS as readonly string[]).includes(value);
}
