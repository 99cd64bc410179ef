import { createHmac, hash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** A short, stable, non-reversible name for a secret-ish value (state, session id). */
export function digest(value: string): string {
  // crypto.hash: one call into OpenSSL, without a Hash object per use.
  return hash('sha256', value, 'base64url');
}

/** Constant-time comparison of two strings (user ids, tokens, signatures). */
export function safeEqual(a: string, b: string): boolean {
  // Comparing fixed-length digests keeps the time independent of where, and whether, the
  // lengths differ.
  return timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));
}

/**
 * HKDF's `info` for the user reference key: a key of its own, for this one use, so that a
 * reference (seen by whoever reads logs) says nothing of the key it comes from and cannot be
 * used to open or forge what that key protects (sealed tokens).
 */
const USER_REF_INFO = 'powens-connect-bff/log-user-ref/v1';

/**
 * The key of user references, derived (HKDF-SHA256) from a token encryption key: the same on
 * every instance and across restarts for as long as that key is the first of
 * TOKEN_ENCRYPTION_KEYS.
 */
export function userRefKey(tokenKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', tokenKey, Buffer.alloc(0), USER_REF_INFO, 32));
}

/**
 * A user's reference in logs: HMAC-SHA256 of the user id under the reference key, 16 hex
 * characters (64 bits: no two users of a deployment share one in practice). Stable, so support
 * can follow one user through the logs (`npm run user-ref -- <id>` prints it), and not
 * reversible without the key, not even by trying likely ids (emails, sequential numbers).
 */
export function userRef(key: Buffer, userId: string): string {
  return createHmac('sha256', key).update(userId, 'utf8').digest('hex').slice(0, 16);
}

/**
 * `bytes` random bytes from the CSPRNG, base64url: states, session ids, lock tokens. Plain
 * randomBytes: a pooled variant (slices of a 4 KiB randomFillSync buffer) earned a median 4.5 %
 * of `/connect` over eight runs of `npm run bench` (components), under the 5 % a hand-written
 * replacement must earn to stay (docs/PERFORMANCE.md).
 */
export function randomToken(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 256) throw new RangeError('randomToken: 16 to 256 bytes');
  return randomBytes(bytes).toString('base64url');
}
