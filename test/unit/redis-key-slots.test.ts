import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { loadStorageConfig } from '../../src/config.js';
import { createKeys } from '../../src/storage/keys.js';
import { keySlot } from '../../src/storage/redis.js';

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

const ENV = {
  REDIS_URL: 'redis://localhost:6379',
  TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
};

describe('Redis Cluster slots', () => {
  it.each(['powens-bff:', 'bank{:', 'x{}:', '{bff}:', 'a}b{c}:', 'a{b}{:'])(
    'with REDIS_PREFIX=%s, either the prefix is refused or the keys written together share a slot',
    (prefix) => {
      const result = loadStorageConfig({ ...ENV, REDIS_PREFIX: prefix });
      if (!result.ok) {
        expect(result.problems.join('\n')).toContain('REDIS_PREFIX');
        return;
      }
      const keys = createKeys(result.config.redis.prefix);
      const user = 'user-1';
      const together = [
        [keys.connectionsCache(user), keys.connectionsLock(user), keys.connectionsGeneration(user), keys.connectionsFailure(user)],
        [keys.flow('s', 'h1'), keys.flow('s', 'h2'), keys.flowIndex('s')],
        // The token script writes a user's token and the fate of that write together.
        [keys.token(user), keys.tokenWrite(user, 'w1'), keys.tokenWrite(user, 'w2')],
        [keys.token('{a}b'), keys.tokenWrite('{a}b', 'w1')],
      ];
      for (const group of together) expect(new Set(group.map(hashedPart)).size).toBe(1);
      // A user id cannot forge the hash tag of a user's set of sessions, nor land it in another user's slot.
      expect(keys.userSessions('x}y{z')).toContain('{x%7Dy%7Bz}');
      expect(keys.userSessions('x}y{z')).not.toContain('}y{');
    },
  );

  it('a prefix with a whole hash tag is accepted', () => {
    const result = loadStorageConfig({ ...ENV, REDIS_PREFIX: '{bff}:' });
    expect(result.ok).toBe(true);
  });

  it('keySlot computes the slot Redis Cluster does (CRC16 of the hash tag or the whole key, mod 16384)', () => {
    // The examples of Redis' CLUSTER KEYSLOT documentation, and the CRC16 check value.
    expect(keySlot('somekey')).toBe(11058);
    expect(keySlot('foo{hash_tag}')).toBe(2515);
    expect(keySlot('somekey{hash_tag}')).toBe(2515);
    expect(keySlot('123456789')).toBe(0x31c3);
    // An empty tag is no tag: the whole key is hashed.
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });

  it("the write fate of a token key without a tag of its own lands in that token key's slot", () => {
    const keys = createKeys('powens-bff:');
    expect(keySlot(keys.tokenWrite('alice', 'w'))).toBe(keySlot(keys.token('alice')));
    expect(keys.tokenWrite('alice', 'w').startsWith('powens-bff:')).toBe(true);
  });
});
