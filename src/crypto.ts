import { createHash, timingSafeEqual } from 'node:crypto';

/** A short, stable, non-reversible name for a secret-ish value (state, session id). */
export function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Constant-time comparison of two strings (user ids, tokens, signatures). */
export function safeEqual(a: string, b: string): boolean {
  // Comparing fixed-length digests keeps the time independent of where, and whether, the
  // lengths differ.
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
