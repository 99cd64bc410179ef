/**
 * Webhooks as Powens sends them (docs/POWENS-API.md, "Webhooks"): JSON POSTed to the URL
 * registered for one event (one URL per event; no header or body field names the event),
 * authenticated by the user's bearer token or signed (`BI-Signature`, `BI-Signature-Date`),
 * possibly gzipped, with an integer `id_webhook_data`. The signature is computed here on its
 * own, from Powens' documentation, not with the service's code.
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
  /** Compresses the body (`Content-Encoding: gzip`); the signature covers the JSON text unless `signCompressed`. */
  gzip?: boolean;
  /**
   * With `gzip`, signs the compressed bytes instead of the JSON text (which of the two Powens
   * signs is not documented).
   */
  signCompressed?: boolean;
  /** The signature date, default now in Powens' format; a string is sent as is (to test a malformed one). */
  date?: Date | string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

export interface WebhookDelivery {
  /** The URL posted to. */
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

/**
 * The URL to register for `event` in the Powens console, for a service at `base` (its
 * PUBLIC_URL): `{base}/webhooks/powens/{EVENT}`.
 */
export function webhookUrl(base: string, event: string): string {
  return `${base.replace(/\/+$/, '')}/webhooks/powens/${encodeURIComponent(event)}`;
}

/**
 * The webhook's signature, exactly as Powens documents it:
 * `BASE_64(HMAC_SHA256(<METHOD> + "." + <endpoint> + "." + <date> + "." + <payload>, secret_key))`,
 * the endpoint being the path of the listening URL (no host, no query).
 */
export function signWebhook(secret: string, method: string, path: string, date: string, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secret).update(`${method}.${path}.${date}.`, 'utf8');
  return (typeof body === 'string' ? mac.update(body, 'utf8') : mac.update(body)).digest('base64');
}

/** `BI-Signature-Date` as Powens writes it: UTC ISO 8601 with microseconds (`2022-06-27T11:08:52.577831Z`). */
export function signatureDate(date: Date): string {
  return `${date.toISOString().slice(0, 23)}${String(randomInt(0, 1000)).padStart(3, '0')}Z`;
}

/** A source of `id_webhook_data` values: random start, then increasing, like delivery ids. */
export function webhookIds(): () => number {
  let next = randomInt(1, 2 ** 31);
  return () => next++;
}

/**
 * POSTs one webhook to `url`, the URL registered for its event (see `webhookUrl`). `payload` is
 * sent as JSON; an object without `id_webhook_data` gets one from `nextId`. A string payload is
 * sent as is (to test malformed JSON).
 */
export async function sendWebhook(
  url: string,
  payload: unknown,
  options: SendWebhookOptions = {},
  nextId: () => number = webhookIds(),
): Promise<WebhookDelivery> {
  const target = new URL(url);
  const withId = isRecord(payload) && payload['id_webhook_data'] === undefined ? { id_webhook_data: nextId(), ...payload } : payload;
  const text = typeof withId === 'string' ? withId : JSON.stringify(withId);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Powens-Webhooks (emulator)' };
  let body: string | Uint8Array = text;
  if (options.gzip === true) {
    body = new Uint8Array(gzipSync(text));
    headers['content-encoding'] = 'gzip';
  }
  if (options.hmacSecret !== undefined) {
    const date = typeof options.date === 'string' ? options.date : signatureDate(options.date ?? new Date());
    headers['bi-signature-date'] = date;
    // The path as registered, without the query (Powens' "listening URL endpoint").
    headers['bi-signature'] = signWebhook(options.hmacSecret, 'POST', target.pathname, date, options.signCompressed === true ? body : text);
  }
  if (options.bearer !== undefined) headers['authorization'] = `Bearer ${options.bearer}`;
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
  return { id: userId, signin: user?.signin ?? null };
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
 * - USER_CREATED, USER_DELETED: the User object itself, `{ id, signin, platform }`;
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
      return userJson(store, userId);
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
