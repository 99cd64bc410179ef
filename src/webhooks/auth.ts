import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { safeEqual } from '../crypto.js';

/** Powens signs with the time of sending; older (or further in the future) is refused. */
export const SIGNATURE_MAX_AGE_MS = 5 * 60 * 1000;

/** base64(HMAC-SHA256(secret, METHOD.path.date.body)), as Powens computes `BI-Signature`. */
export function webhookSignature(secret: string, method: string, path: string, date: string, body: Buffer): string {
  return createHmac('sha256', secret).update(`${method}.${path}.${date}.`, 'utf8').update(body).digest('base64');
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

export function hasSignature(headers: IncomingHttpHeaders): boolean {
  return header(headers, 'bi-signature') !== undefined;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing date' | 'bad date' | 'date too old' | 'bad signature' };

/**
 * Checks `BI-Signature` over the raw body: the payload, or for a gzip body also the bytes as
 * sent (which of the two a sender signs is not specified). `path` is the request target as
 * received, query included, so an event named in the query cannot be swapped.
 */
export function checkSignature(
  secret: string,
  req: { method: string; path: string; headers: IncomingHttpHeaders },
  bodies: readonly Buffer[],
  now: number,
): SignatureCheck {
  const date = header(req.headers, 'bi-signature-date');
  const given = header(req.headers, 'bi-signature') ?? '';
  if (date === undefined) return { ok: false, reason: 'missing date' };
  const sent = Date.parse(date);
  if (Number.isNaN(sent)) return { ok: false, reason: 'bad date' };
  if (Math.abs(now - sent) > SIGNATURE_MAX_AGE_MS) return { ok: false, reason: 'date too old' };
  let match = false;
  for (const body of bodies) {
    // Every candidate is compared, so the time does not tell which one matched.
    if (safeEqual(given.trim(), webhookSignature(secret, req.method, req.path, date, body))) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: 'bad signature' };
}

/** The token of `Authorization: Bearer <token>`, if that is the header's form. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const value = header(headers, 'authorization');
  const m = value === undefined ? null : /^Bearer[ ]+(\S{1,4096})\s*$/i.exec(value);
  return m?.[1];
}
