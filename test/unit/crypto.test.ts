import { createHmac, randomBytes } from 'node:crypto';
import { digest, randomToken, safeEqual, userRef, userRefKey } from '../../src/crypto.js';

describe('random tokens from the CSPRNG', () => {
  test('never repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(randomToken(32));
    expect(seen.size).toBe(20_000);
  });

  test('are base64url of exactly the bytes asked for', () => {
    for (const bytes of [16, 24, 32, 255, 256]) {
      const token = randomToken(bytes);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(bytes);
    }
  });

  test('refuse sizes too small to be secrets, too large, or not whole', () => {
    for (const bytes of [0, 8, 15, 257, 16.5, Number.NaN]) expect(() => randomToken(bytes)).toThrow(RangeError);
  });
});

describe('digests and constant-time comparison', () => {
  test('digest is the base64url SHA-256 of the text', () => {
    expect(digest('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  test('safeEqual tells equal strings from different ones of any length', () => {
    expect(safeEqual('secret', 'secret')).toBe(true);
    expect(safeEqual('secret', 'secreT')).toBe(false);
    expect(safeEqual('secret', 'secret-longer')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('user references in logs', () => {
  const tokenKey = randomBytes(32);

  test('are 16 hex characters, the same for the same key and user, different for another user or key', () => {
    const key = userRefKey(tokenKey);
    const ref = userRef(key, 'user-42');
    expect(ref).toMatch(/^[0-9a-f]{16}$/);
    expect(userRef(userRefKey(Buffer.from(tokenKey)), 'user-42')).toBe(ref);
    expect(userRef(key, 'user-43')).not.toBe(ref);
    expect(userRef(userRefKey(randomBytes(32)), 'user-42')).not.toBe(ref);
  });

  test('come from a key of their own, not the token key itself', () => {
    const key = userRefKey(tokenKey);
    expect(key.length).toBe(32);
    expect(key.equals(tokenKey)).toBe(false);
    // An HMAC under the token key itself would give another value: the derivation is in between.
    expect(userRef(key, 'user-42')).not.toBe(createHmac('sha256', tokenKey).update('user-42').digest('hex').slice(0, 16));
  });
});
