import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { TokenKey } from '../config.js';

/**
 * AES-256-GCM sealing of small secrets. The sealed form is
 * `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts), so a reader knows which key opens it,
 * and the associated data (the user id) binds a sealed value to its owner: a value copied under
 * another user's key does not open.
 */

const VERSION = 'v1';

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

export function seal(plaintext: string, aad: string, keys: readonly TokenKey[]): string {
  const key = keys[0];
  if (key === undefined) throw new SealError('no encryption key');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [VERSION, key.id, iv.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
}

export function sealedKeyId(sealed: string): string | undefined {
  const parts = sealed.split('.');
  return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
}

export function open(sealed: string, aad: string, keys: readonly TokenKey[]): string {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new SealError('not a sealed value');
  const [, keyId, ivText, ctText, tagText] = parts as [string, string, string, string, string];
  const key = keys.find((k) => k.id === keyId);
  if (key === undefined) throw new SealError(`sealed with key "${keyId}", which is not in TOKEN_ENCRYPTION_KEYS`);
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== 12 || tag.length !== 16) throw new SealError('malformed sealed value');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(ctText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new SealError('sealed value does not open (wrong key, wrong owner or tampered)');
  }
}
