import { createHmac, timingSafeEqual, type Hmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Powens' webhook signature (docs/POWENS-API.md, "Webhooks"; Powens' webhooks guide):
 * `BI-Signature = BASE_64(HMAC_SHA256(<METHOD> + "." + <endpoint> + "." + <date> + "." + <payload>, secret_key))`,
 * where endpoint is the path of the URL registered for the event (no scheme, host or query),
 * date the raw `BI-Signature-Date` header, payload the body.
 */
export function webhookSignature(secret: string, method: string, path: string, date: string, body: Buffer): string {
  return signer(secret, method, path, date).update(body).digest('base64');
}

function signer(secret: string, method: string, path: string, date: string): Hmac {
  return createHmac('sha256', secret).update(`${method}.${path}.${date}.`, 'utf8');
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

export function hasSignature(headers: IncomingHttpHeaders): boolean {
  return header(headers, 'bi-signature') !== undefined;
}

/** Standard base64 of exactly 32 bytes (an HMAC-SHA256), padding optional. */
const SIGNATURE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=?$/;

/**
 * `BI-Signature-Date`: Powens sends UTC ISO 8601 with microseconds (`2022-06-27T11:08:52.577831Z`).
 * A zone is required (a zone-less time would be read in the server's local time); any fraction
 * length is accepted, since it is used raw in the HMAC and only its time is checked here.
 */
const SIGNATURE_DATE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export function parseSignatureDate(value: string): number | undefined {
  const m = SIGNATURE_DATE.exec(value);
  if (m === null) return undefined;
  const millis = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  const time = Date.parse(`${m[1] ?? ''}.${millis}${m[3] ?? ''}`);
  return Number.isNaN(time) ? undefined : time;
}

export type SignatureHeaders =
  | { ok: true; signature: Buffer; date: string }
  | { ok: false; reason: 'no signature' | 'malformed signature' | 'missing date' | 'bad date' | 'date out of window' };

/**
 * What can be judged from the headers alone, before a byte of the body is read: the signature
 * has the shape of an HMAC-SHA256 in base64, and its date is well formed and within `maxAgeMs`
 * of `now` either way (a sender's clock may be ahead of ours).
 */
export function readSignatureHeaders(headers: IncomingHttpHeaders, now: number, maxAgeMs: number): SignatureHeaders {
  const given = header(headers, 'bi-signature')?.trim();
  if (given === undefined) return { ok: false, reason: 'no signature' };
  if (!SIGNATURE.test(given)) return { ok: false, reason: 'malformed signature' };
  const date = header(headers, 'bi-signature-date');
  if (date === undefined) return { ok: false, reason: 'missing date' };
  const sent = parseSignatureDate(date);
  if (sent === undefined) return { ok: false, reason: 'bad date' };
  if (Math.abs(now - sent) > maxAgeMs) return { ok: false, reason: 'date out of window' };
  return { ok: true, signature: Buffer.from(given, 'base64'), date };
}

/**
 * The signature computed as the body streams in, so that checking it never needs the body
 * whole. Which bytes Powens signs when it gzips a body is not documented, so both are
 * computed: the payload (inflated) and, for a gzip body, the bytes as sent.
 */
export class StreamingSignature {
  private readonly payload: Hmac;
  private readonly wire: Hmac | undefined;

  constructor(secret: string, method: string, path: string, date: string, gzipped: boolean) {
    this.payload = signer(secret, method, path, date);
    this.wire = gzipped ? signer(secret, method, path, date) : undefined;
  }

  /** Bytes as they came over the wire (only used for a gzip body). */
  onWire = (chunk: Buffer): void => {
    this.wire?.update(chunk);
  };

  /** Bytes of the payload itself. */
  onPayload = (chunk: Buffer): void => {
    this.payload.update(chunk);
  };

  /** Compares every candidate in constant time, so the time does not tell which one matched. */
  matches(given: Buffer): boolean {
    let match = false;
    for (const mac of [this.payload, this.wire]) {
      if (mac !== undefined && timingSafeEqual(mac.digest(), given)) match = true;
    }
    return match;
  }
}

/** The token of `Authorization: Bearer <token>`, if that is the header's form. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'authorization');
  const m = value === undefined ? null : /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(value);
  return m?.[1];
}
