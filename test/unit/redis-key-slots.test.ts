import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { loadStorageConfig } from '../../src/config.js';
import { createKeys } from '../../src/storage/keys.js';

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
        [keys.connectionsCache(user), keys.connectionsLock(user), keys.connectionsGeneration(user)],
        [keys.flow('s', 'h1'), keys.flow('s', 'h2'), keys.flowIndex('s')],
      ];
      for (const group of together) expect(new Set(group.map(hashedPart)).size).toBe(1);
    },
  );

  it('a prefix with a whole hash tag is accepted', () => {
    const result = loadStorageConfig({ ...ENV, REDIS_PREFIX: '{bff}:' });
    expect(result.ok).toBe(true);
  });
});
