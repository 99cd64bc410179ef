import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The zone the emulator writes its dates in unless told otherwise: Powens' dates carry no zone,
 * and the wall-clock time they hold is read as Europe/Paris by a production integration
 * (docs/POWENS-API.md, "Dates").
 */
export const DEFAULT_TIME_ZONE = 'Europe/Paris';

const wallClocks = new Map<string, Intl.DateTimeFormat>();

/** Throws a RangeError for a zone Intl does not know. */
function wallClock(timeZone: string): Intl.DateTimeFormat {
  let f = wallClocks.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    wallClocks.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is a zone Intl knows (`Europe/Paris`, `UTC`). */
export function knownTimeZone(timeZone: string): boolean {
  try {
    wallClock(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Powens' date format: `YYYY-MM-DD HH:MM:SS`, no zone: the wall-clock time in `timeZone` (default UTC). */
export function powensDate(date: Date, timeZone = 'UTC'): string {
  if (timeZone === 'UTC') return date.toISOString().slice(0, 19).replace('T', ' ');
  const p: Record<string, string> = {};
  for (const part of wallClock(timeZone).formatToParts(date)) p[part.type] = part.value;
  return `${(p.year ?? '').padStart(4, '0')}-${p.month ?? ''}-${p.day ?? ''} ${p.hour ?? ''}:${p.minute ?? ''}:${p.second ?? ''}`;
}

/** An opaque random string (base64url), for tokens, codes and request ids. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

/**
 * Appends query parameters to a URL given as a string, keeping its own query (`&` is used when
 * it already has one) and its fragment. Values are URL-encoded by URLSearchParams.
 */
export function appendQuery(url: string, params: URLSearchParams): string {
  const query = params.toString();
  if (query === '') return url;
  const hashIndex = url.indexOf('#');
  const base = hashIndex === -1 ? url : url.slice(0, hashIndex);
  const hash = hashIndex === -1 ? '' : url.slice(hashIndex);
  let separator = '?';
  if (base.includes('?')) separator = base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${separator}${query}${hash}`;
}

/**
 * Whether `candidate` is allowed by a client's redirect URI white-list. An entry ending in `*` is
 * a prefix match, otherwise the match is exact. The candidate must be an absolute http(s) URL
 * without credentials (so a prefix such as `http://127.0.0.1:*` cannot be turned into
 * `http://127.0.0.1:1@evil.example/`).
 */
export function redirectUriAllowed(candidate: string, whiteList: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(candidate);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  if (parsed.username !== '' || parsed.password !== '') return false;
  return whiteList.some((entry) => (entry.endsWith('*') ? candidate.startsWith(entry.slice(0, -1)) : candidate === entry));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
