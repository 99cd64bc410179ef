// `npm run rotate-keys` as an operator runs it: the built script as a process, configured by
// environment variables, against a real Redis (README.md, "Rotating secrets"). The rotation
// itself is covered in depth by test/security/rotate-keys.test.ts; this is the command around it.
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TokenKey } from '../../src/config.js';
import { createKeys } from '../../src/storage/keys.js';
import { sealedKeyId } from '../../src/storage/seal.js';
import { TokenStore } from '../../src/storage/tokens.js';
import { buildService, coverageEnv, neutralCwd } from '../helpers/build.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';

jest.setTimeout(60_000);

let testRedis: TestRedis;
let redis: Redis;
let dist: string;
const OLD: TokenKey = { id: 'old', key: randomBytes(32) };
const NEW: TokenKey = { id: 'new', key: randomBytes(32) };
const keyList = (...keys: TokenKey[]): string => keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');

beforeAll(async () => {
  [testRedis, dist] = await Promise.all([startTestRedis(), buildService()]);
  redis = new Redis(testRedis.url);
});
afterAll(async () => {
  redis.disconnect();
  await testRedis.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node rotate-keys.js [args]` with exactly `env` (plus PATH), in `cwd`. */
async function rotateKeys(env: Record<string, string>, args: string[] = [], cwd: string = neutralCwd()): Promise<Run> {
  const child = spawn(process.execPath, [join(dist, 'scripts', 'rotate-keys.js'), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...coverageEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

async function seed(prefix: string, users: string[]): Promise<void> {
  const store = new TokenStore(redis, createKeys(prefix), [OLD]);
  for (const [i, user] of users.entries()) {
    await redis.set(createKeys(prefix).token(user), store.sealRecord(user, { token: `tok-${i}`, powensUserId: i + 1, createdAt: '2026-01-01T00:00:00.000Z' }));
  }
}

async function keyIds(prefix: string): Promise<string[]> {
  const keys = await redis.keys(`${prefix}token:*`);
  const values = keys.length === 0 ? [] : await redis.mget(...keys);
  return values.map((v) => sealedKeyId(v ?? '') ?? '?').sort();
}

test('re-seals every token under the first key, prints the summary and one JSON line, and exits 0', async () => {
  await seed('cli1:', ['ann', 'bob', 'cy']);
  const run = await rotateKeys({ REDIS_URL: testRedis.url, REDIS_PREFIX: 'cli1:', TOKEN_ENCRYPTION_KEYS: keyList(NEW, OLD) });
  expect(run.code).toBe(0);
  expect(run.stderr).toMatch(/resealed\s+3/);
  expect(JSON.parse(run.stdout)).toMatchObject({ scanned: 3, resealed: 3, failedToOpen: 0, complete: true, keyId: 'new' });
  expect(await keyIds('cli1:')).toEqual(['new', 'new', 'new']);
  // No key material in what it printed.
  for (const k of [NEW, OLD]) expect(run.stdout + run.stderr).not.toContain(k.key.toString('base64'));
});

test('finding no token at all (a REDIS_PREFIX that is not the service’s) exits 4 with a line naming REDIS_PREFIX', async () => {
  await seed('cli2:', ['dee']);
  const run = await rotateKeys({ REDIS_URL: testRedis.url, REDIS_PREFIX: 'cli2-typo:', TOKEN_ENCRYPTION_KEYS: keyList(NEW, OLD) });
  expect(run.code).toBe(4);
  expect(run.stderr).toMatch(/found no token under the prefix cli2-typo: .*REDIS_PREFIX.*--allow-empty/);
  expect(JSON.parse(run.stdout)).toMatchObject({ scanned: 0 });
  // The real tokens were not touched.
  expect(await keyIds('cli2:')).toEqual(['old']);
});

test('--allow-empty: no token is expected, and the run exits 0', async () => {
  const run = await rotateKeys({ REDIS_URL: testRedis.url, REDIS_PREFIX: 'cli3-empty:', TOKEN_ENCRYPTION_KEYS: keyList(NEW) }, ['--allow-empty']);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout)).toMatchObject({ scanned: 0, complete: true });
});

test('an unknown option exits 1 and names the one option', async () => {
  const run = await rotateKeys({ REDIS_URL: testRedis.url, TOKEN_ENCRYPTION_KEYS: keyList(NEW) }, ['--allow-emtpy']);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/--allow-empty/);
});

test('tokens under a key that is not listed: exit 2 with their key id, the tokens left as they were', async () => {
  await seed('cli4:', ['eve', 'fay']);
  const run = await rotateKeys({ REDIS_URL: testRedis.url, REDIS_PREFIX: 'cli4:', TOKEN_ENCRYPTION_KEYS: keyList(NEW) });
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/failed to open\s+2 \(key ids: old\)/);
  expect(await keyIds('cli4:')).toEqual(['old', 'old']);
});

test('a missing variable exits 1 with one line naming it, and no key material', async () => {
  const run = await rotateKeys({ REDIS_URL: testRedis.url, TOKEN_ENCRYPTION_KEYS: '' });
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/^ {2}- TOKEN_ENCRYPTION_KEYS: is required/m);
});

test('reads .env in the working directory, where the environment already set wins', async () => {
  await seed('cli5:', ['gus']);
  const dir = mkdtempSync(join(tmpdir(), 'rotate-dotenv-'));
  try {
    // The file names a wrong prefix, which the environment overrides; the keys come from the file.
    writeFileSync(join(dir, '.env'), `REDIS_PREFIX=wrong-prefix:\nTOKEN_ENCRYPTION_KEYS=${keyList(NEW, OLD)}\n`);
    const run = await rotateKeys({ REDIS_URL: testRedis.url, REDIS_PREFIX: 'cli5:' }, [], dir);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`read ${join(dir, '.env')}: 1 variable; already set in the environment, kept: REDIS_PREFIX`);
    expect(await keyIds('cli5:')).toEqual(['new']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
