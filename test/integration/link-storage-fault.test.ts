import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { completeWebview } from '../../emulator/index.js';
import { createKeys } from '../../src/storage/keys.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';

/**
 * A first connection whose token is stored, but whose second write (the Powens user index used
 * by webhooks) Redis refuses. The refusal is real: the app signs in to Redis as an ACL user that
 * may write every key of the service except the index.
 */

const PREFIX = `acl${randomBytes(3).toString('hex')}:`;
const ACL_USER = `bff-${randomBytes(3).toString('hex')}`;
const ACL_PASSWORD = randomBytes(12).toString('hex');

let testRedis: TestRedis;
let admin: Redis;
let stack: Stack;

beforeAll(async () => {
  testRedis = await startTestRedis();
  admin = new Redis(testRedis.url);
  // Every key family of the service but `powens-user:`.
  const patterns = ['sess:*', 'user-sessions:*', 'token:*', 'token-write:*', 'flow:*', 'flows:*', 'connections*', 'rl*', 'webhook-seen:*'].map(
    (p) => `~${PREFIX}${p}`,
  );
  await admin.call('ACL', 'SETUSER', ACL_USER, 'on', `>${ACL_PASSWORD}`, 'resetkeys', ...patterns, '+@all');
  const url = new URL(testRedis.url);
  url.username = ACL_USER;
  url.password = ACL_PASSWORD;
  stack = await startStack({ testRedis, prefix: PREFIX, env: { REDIS_URL: url.href } });
});
afterAll(async () => {
  await stack.close();
  await admin.call('ACL', 'DELUSER', ACL_USER);
  admin.disconnect();
  await testRedis.close();
});

describe('a first connection when Redis refuses the Powens user index', () => {
  it('completes, keeps the stored token, and never deletes the Powens user that token belongs to', async () => {
    const knobs = stack.emulator.emulator.knobs;
    const b = stack.browser('index-refused-user');
    const back = await completeWebview(await startConnect(b), { kind: 'connect' });
    const cb = await b.get(back.href);

    expect(cb.status).toBe(303);
    const stored = await stack.built.tokens.get('index-refused-user');
    expect(stored?.token).toEqual(expect.any(String));
    // The Powens user behind the stored token is alive: nothing was "discarded".
    expect(knobs.calls('users.delete')).toBe(0);
    expect(stack.emulator.emulator.state.findUserByToken(stored?.token ?? '')).toBeDefined();
    // The index write really was refused (the premise of this test).
    const keys = createKeys(PREFIX);
    expect(await admin.exists(keys.powensUser(stored?.powensUserId ?? 0))).toBe(0);
  });
});
