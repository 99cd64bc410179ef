import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { TokenKey } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { open, seal, sealedKeyId, SealError } from '../../src/storage/seal.js';
import { TokenStore } from '../../src/storage/tokens.js';

const k1: TokenKey = { id: 'k1', key: randomBytes(32) };
const k2: TokenKey = { id: 'k2', key: randomBytes(32) };
const SECRET = 'powens-user-token-3f9a1c77e2';

/** Replaces one base64url part of a sealed value (v1.keyId.iv.ct.tag) after flipping a bit. */
function flip(sealed: string, part: 2 | 3 | 4): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part] ?? '', 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('sealing with AES-256-GCM', () => {
  it('opens what it sealed', () => {
    const sealed = seal(SECRET, 'token:alice', [k1]);
    expect(open(sealed, 'token:alice', [k1])).toBe(SECRET);
  });

  it('round-trips an empty string and non-ASCII text', () => {
    for (const text of ['', 'é€😀', 'x'.repeat(10_000)]) {
      expect(open(seal(text, 'aad', [k1]), 'aad', [k1])).toBe(text);
    }
  });

  it('never holds the plaintext, and names the key it was sealed with', () => {
    const sealed = seal(SECRET, 'token:alice', [k1]);
    expect(sealed).not.toContain(SECRET);
    expect(sealed).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(sealed).not.toContain(Buffer.from(SECRET).toString('base64url'));
    expect(sealed.split('.')).toHaveLength(5);
    expect(sealed.startsWith('v1.k1.')).toBe(true);
    expect(sealedKeyId(sealed)).toBe('k1');
  });

  it('uses a fresh IV each time: the same text seals differently', () => {
    const a = seal(SECRET, 'aad', [k1]);
    const b = seal(SECRET, 'aad', [k1]);
    expect(a).not.toBe(b);
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
  });

  it('binds the sealed value to its owner: another user id does not open it', () => {
    const sealed = seal(SECRET, 'token:alice', [k1]);
    expect(() => open(sealed, 'token:bob', [k1])).toThrow(SealError);
    expect(() => open(sealed, 'token:alice ', [k1])).toThrow(SealError);
    expect(() => open(sealed, '', [k1])).toThrow(SealError);
  });

  it.each([
    ['the IV', 2],
    ['the ciphertext', 3],
    ['the tag', 4],
  ] as const)('detects a change to %s', (_name, part) => {
    const sealed = seal(SECRET, 'aad', [k1]);
    expect(() => open(flip(sealed, part), 'aad', [k1])).toThrow(SealError);
  });

  it('detects a sealed value relabelled with another key id', () => {
    const sealed = seal(SECRET, 'aad', [k1]);
    const relabelled = sealed.replace(/^v1\.k1\./, 'v1.k2.');
    expect(() => open(relabelled, 'aad', [k1, k2])).toThrow(SealError);
  });

  it('detects a truncated tag or IV', () => {
    const parts = seal(SECRET, 'aad', [k1]).split('.');
    const shortTag = [...parts.slice(0, 4), (parts[4] ?? '').slice(0, 10)].join('.');
    const shortIv = [parts[0], parts[1], (parts[2] ?? '').slice(0, 8), parts[3], parts[4]].join('.');
    expect(() => open(shortTag, 'aad', [k1])).toThrow('malformed sealed value');
    expect(() => open(shortIv, 'aad', [k1])).toThrow('malformed sealed value');
  });

  it('refuses what is not a sealed value', () => {
    for (const value of ['', SECRET, 'v2.k1.a.b.c', 'v1.k1.a.b', 'v1.k1.a.b.c.d']) {
      expect(() => open(value, 'aad', [k1])).toThrow('not a sealed value');
    }
  });

  it('seals with the first key of the list', () => {
    expect(sealedKeyId(seal(SECRET, 'aad', [k2, k1]))).toBe('k2');
  });

  it('still opens a value sealed under an old key after a new key is put first (rotation)', () => {
    const old = seal(SECRET, 'token:alice', [k1]);
    const rotated = [k2, k1];
    expect(open(old, 'token:alice', rotated)).toBe(SECRET);
    // New values go under the new key, and still open while the old key stays listed.
    const fresh = seal(SECRET, 'token:alice', rotated);
    expect(sealedKeyId(fresh)).toBe('k2');
    expect(open(fresh, 'token:alice', rotated)).toBe(SECRET);
  });

  it('fails clearly when the key it names is no longer configured, without leaking key material', () => {
    const sealed = seal(SECRET, 'aad', [k1]);
    let caught: unknown;
    try {
      open(sealed, 'aad', [k2]);
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SealError);
    const message = (caught as Error).message;
    expect(message).toBe('sealed with key "k1", which is not in TOKEN_ENCRYPTION_KEYS');
    expect(message).not.toContain(k1.key.toString('base64'));
    expect(message).not.toContain(k2.key.toString('base64'));
  });

  it('refuses to seal without a key', () => {
    expect(() => seal(SECRET, 'aad', [])).toThrow('no encryption key');
  });

  it('does not open with a key of the same id but different material', () => {
    const sealed = seal(SECRET, 'aad', [k1]);
    const impostor: TokenKey = { id: 'k1', key: randomBytes(32) };
    expect(() => open(sealed, 'aad', [impostor])).toThrow('sealed value does not open (wrong key, wrong owner or tampered)');
  });
});

describe('the token record', () => {
  const record = { token: SECRET, powensUserId: 7, createdAt: '2026-01-02T03:04:05.000Z' };

  it('is sealed whole, with the user id as associated data', () => {
    // The store's sealing needs no Redis: only its sealRecord/openRecord are used here.
    const store = new TokenStore(null as never, null as never, [k1]);
    const sealed = store.sealRecord('alice', record);
    expect(sealed).not.toContain(SECRET);
    expect(store.openRecord('alice', sealed)).toEqual(record);
    let caught: unknown;
    try {
      store.openRecord('bob', sealed);
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe('INTERNAL');
    expect(JSON.stringify(caught)).not.toContain(SECRET);
  });

  it('written under an old key opens after a new key is put first', () => {
    const before = new TokenStore(null as never, null as never, [k1]);
    const after = new TokenStore(null as never, null as never, [k2, k1]);
    const sealed = before.sealRecord('alice', record);
    expect(after.openRecord('alice', sealed)).toEqual(record);
  });
});
