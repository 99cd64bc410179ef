import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadStorageConfig, parseTokenKeys, type TokenKey } from '../../src/config.js';
import { createKeys } from '../../src/storage/keys.js';
import { rotateTokenKeys } from '../../src/storage/rotate.js';
import { sealedKeyId } from '../../src/storage/seal.js';
import { TokenStore, type StoredToken } from '../../src/storage/tokens.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';

const TOTAL = 10_000;

function key(id: string): TokenKey {
  return { id, key: randomBytes(32) };
}

function record(i: number): StoredToken {
  return { token: `powens-token-${i}-${randomBytes(8).toString('hex')}`, powensUserId: i + 1, createdAt: '2026-01-01T00:00:00.000Z' };
}

let testRedis: TestRedis;
let redis: Redis;
beforeAll(async () => {
  testRedis = await startTestRedis();
  redis = new Redis(testRedis.url);
});
afterAll(async () => {
  redis.disconnect();
  await testRedis.close();
});

/** `count` users' tokens sealed under `sealingKeys[0]`, written in pipelines. */
async function seed(prefix: string, sealingKeys: TokenKey[], count: number, userId = (i: number) => `user-${i}`): Promise<Map<string, StoredToken>> {
  const keys = createKeys(prefix);
  const store = new TokenStore(redis, keys, sealingKeys);
  const records = new Map<string, StoredToken>();
  for (let start = 0; start < count; start += 1000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const id = userId(i);
      const r = record(i);
      records.set(id, r);
      pipeline.set(keys.token(id), store.sealRecord(id, r));
    }
    await pipeline.exec();
  }
  return records;
}

/** How many of `records` open, with `tokenKeys`, to exactly the record stored (read in pipelines). */
async function openAll(prefix: string, tokenKeys: TokenKey[], records: Map<string, StoredToken>): Promise<number> {
  const keys = createKeys(prefix);
  const store = new TokenStore(redis, keys, tokenKeys);
  const ids = [...records.keys()];
  let matching = 0;
  for (let start = 0; start < ids.length; start += 1000) {
    const chunk = ids.slice(start, start + 1000);
    const values = await redis.mget(...chunk.map((id) => keys.token(id)));
    chunk.forEach((id, i) => {
      const opened = store.openRecord(id, values[i] ?? '');
      if (JSON.stringify(opened) === JSON.stringify(records.get(id))) matching += 1;
    });
  }
  return matching;
}

async function keyIdsUnder(prefix: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  const stream = redis.scanStream({ match: `${prefix}token:*`, count: 1000 });
  for await (const batch of stream as AsyncIterable<string[]>) {
    const values = batch.length > 0 ? await redis.mget(...batch) : [];
    for (const v of values) {
      const id = sealedKeyId(v ?? '') ?? '?';
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
  }
  return ids;
}

test('10,000 tokens sealed under an old key are all re-sealed under the first key and still open', async () => {
  const prefix = 'rot1:';
  const oldKey = key('old');
  const newKey = key('new');
  const records = await seed(prefix, [oldKey], TOTAL);
  // Keys that are not tokens are not touched.
  await redis.set(`${prefix}sess:abc`, 'session');
  await redis.set(`${prefix}powens-user:1`, 'user-0');

  const report = await rotateTokenKeys({ redis, keys: createKeys(prefix), tokenKeys: [newKey, oldKey] });
  expect(report).toEqual({ scanned: TOTAL, resealed: TOTAL, alreadyCurrent: 0, failedToOpen: 0, changedMeanwhile: 0, failedKeyIds: [] });

  expect(await keyIdsUnder(prefix)).toEqual(new Map([['new', TOTAL]]));
  // Every token opens with the new key alone: the old key can now be removed from the list.
  expect(await openAll(prefix, [newKey], records)).toBe(TOTAL);
  expect(await redis.get(`${prefix}sess:abc`)).toBe('session');
  expect(await redis.get(`${prefix}powens-user:1`)).toBe('user-0');
});

test('a second run re-seals nothing and reports every token as already current', async () => {
  const prefix = 'rot2:';
  const oldKey = key('old');
  const newKey = key('new');
  await seed(prefix, [oldKey], 1200);
  const tokenKeys = [newKey, oldKey];
  await rotateTokenKeys({ redis, keys: createKeys(prefix), tokenKeys, batchSize: 100 });
  const tokenKeyNames = (await redis.keys(`${prefix}token:*`)).sort();
  const before = await redis.mget(...tokenKeyNames);

  const again = await rotateTokenKeys({ redis, keys: createKeys(prefix), tokenKeys, batchSize: 100 });
  expect(again).toMatchObject({ scanned: 1200, resealed: 0, alreadyCurrent: 1200, failedToOpen: 0, changedMeanwhile: 0 });
  expect(await redis.mget(...tokenKeyNames)).toEqual(before);
});

test('a run stopped part-way leaves every token readable and a rerun finishes the job', async () => {
  const prefix = 'rot3:';
  const oldKey = key('old');
  const newKey = key('new');
  const records = await seed(prefix, [oldKey], 2000);
  const tokenKeys = [newKey, oldKey];
  const stop = new AbortController();
  const partial = await rotateTokenKeys({
    redis,
    keys: createKeys(prefix),
    tokenKeys,
    batchSize: 100,
    signal: stop.signal,
    onProgress: (r) => {
      if (r.scanned >= 500) stop.abort();
    },
  });
  expect(partial.resealed).toBeGreaterThan(0);
  expect(partial.resealed).toBeLessThan(2000);
  expect(await openAll(prefix, tokenKeys, records)).toBe(2000);

  const rest = await rotateTokenKeys({ redis, keys: createKeys(prefix), tokenKeys, batchSize: 100 });
  expect(rest.resealed + partial.resealed).toBe(2000);
  expect(await keyIdsUnder(prefix)).toEqual(new Map([['new', 2000]]));
});

test('a token the service replaces or deletes during the run is never overwritten with the stale value', async () => {
  const prefix = 'rot4:';
  const oldKey = key('old');
  const newKey = key('new');
  const keys = createKeys(prefix);
  await seed(prefix, [oldKey], 300);
  const service = new TokenStore(redis, keys, [newKey, oldKey]);
  const relinked = record(9999);
  const pending = new Set([keys.token('user-1'), keys.token('user-2')]);
  const report = await rotateTokenKeys({
    redis,
    keys,
    tokenKeys: [newKey, oldKey],
    batchSize: 50,
    // Between the rotation's read of a batch and its write, the service relinks user-1 (a new
    // token, sealed under the new key) and unlinks user-2.
    afterRead: async (batch) => {
      if (batch.includes(keys.token('user-1')) && pending.delete(keys.token('user-1'))) {
        const old = await service.get('user-1');
        if (old === null) throw new Error('user-1 has no token');
        await service.deleteIfCurrent('user-1', old);
        expect(await service.putIfAbsent('user-1', relinked)).toBe(true);
      }
      if (batch.includes(keys.token('user-2')) && pending.delete(keys.token('user-2'))) {
        const old = await service.get('user-2');
        if (old === null) throw new Error('user-2 has no token');
        expect(await service.deleteIfCurrent('user-2', old)).toBe(true);
      }
    },
  });
  expect(pending.size).toBe(0);
  expect(report).toMatchObject({ scanned: 300, resealed: 298, changedMeanwhile: 2, failedToOpen: 0 });
  expect(await service.get('user-1')).toMatchObject(relinked);
  expect(await service.get('user-2')).toBeNull();
  expect(await keyIdsUnder(prefix)).toEqual(new Map([['new', 299]]));
});

test('values under a key no longer listed, tampered values and odd user ids are reported, never lost', async () => {
  const prefix = 'rot5:';
  const retired = key('gone');
  const oldKey = key('old');
  const newKey = key('new');
  const keys = createKeys(prefix);
  await seed(prefix, [retired], 3, (i) => `lost-${i}`);
  // User ids that need encoding in the key (URI-encoded: no key can be forged by an id).
  const odd = await seed(prefix, [oldKey], 3, (i) => [`{tag}*${i}`, `ü ser:${i}`, `a%2F..${i}`][i] ?? '');
  const tampered = new TokenStore(redis, keys, [oldKey]).sealRecord('victim', record(1));
  await redis.set(keys.token('attacker'), tampered); // a sealed value copied under another user
  await redis.set(keys.token('garbage'), 'not sealed');

  const report = await rotateTokenKeys({ redis, keys, tokenKeys: [newKey, oldKey] });
  expect(report).toMatchObject({ scanned: 8, resealed: 3, failedToOpen: 5, changedMeanwhile: 0 });
  expect(report.failedKeyIds.sort()).toEqual(['?', 'gone', 'old']);
  expect(await redis.get(keys.token('attacker'))).toBe(tampered);
  expect(await redis.get(keys.token('garbage'))).toBe('not sealed');
  const after = new TokenStore(redis, keys, [newKey]);
  for (const [userId, r] of odd) expect(await after.get(userId)).toEqual(r);
  const stillRetired = new TokenStore(redis, keys, [retired]);
  expect(await stillRetired.get('lost-0')).not.toBeNull();
});

test('a token with an expiry keeps it when re-sealed', async () => {
  const prefix = 'rot6:';
  const oldKey = key('old');
  const newKey = key('new');
  const keys = createKeys(prefix);
  await seed(prefix, [oldKey], 1);
  await redis.pexpire(keys.token('user-0'), 600_000);
  await rotateTokenKeys({ redis, keys, tokenKeys: [newKey, oldKey] });
  expect(sealedKeyId((await redis.get(keys.token('user-0'))) ?? '')).toBe('new');
  expect(await redis.pttl(keys.token('user-0'))).toBeGreaterThan(500_000);
});

describe('the configuration of npm run rotate-keys', () => {
  const keysValue = `new:${randomBytes(32).toString('base64')},old:${randomBytes(32).toString('base64')}`;

  test('needs only Redis and the token keys, parsed as the service parses them', () => {
    const result = loadStorageConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PREFIX: 'app:', TOKEN_ENCRYPTION_KEYS: keysValue });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.redis.prefix).toBe('app:');
    expect(result.config.tokenKeys).toEqual(parseTokenKeys(keysValue));
  });

  test('refuses to run without REDIS_URL or TOKEN_ENCRYPTION_KEYS, naming each and never a key value', () => {
    const secretKey = randomBytes(31).toString('base64');
    const missing = loadStorageConfig({});
    expect(missing).toEqual({ ok: false, problems: [expect.stringMatching(/^REDIS_URL: /), expect.stringMatching(/^TOKEN_ENCRYPTION_KEYS: /)] });
    const bad = loadStorageConfig({ REDIS_URL: 'http://x', TOKEN_ENCRYPTION_KEYS: `k:${secretKey}`, REDIS_PREFIX: 'a b' });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map((p) => p.split(':')[0]).sort()).toEqual(['REDIS_PREFIX', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEYS']);
    expect(bad.problems.join('\n')).not.toContain(secretKey);
  });
});
