import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { completeWebview } from '../../emulator/index.js';
import { AppError } from '../../src/errors.js';
import { createKeys } from '../../src/storage/keys.js';
import { connectBank } from '../helpers/api.js';
import { Browser } from '../helpers/browser.js';
import { startConnect, startStack, TEST_TOKEN_KEY, type Stack } from '../helpers/stack.js';

/**
 * docs/REFERENCE.md ("Storage") against a real Redis: everything under the prefix, tokens sealed with the
 * user id bound in, key rotation, and instances sharing one Redis.
 */

const OLD_KEY = TEST_TOKEN_KEY;
const NEW_KEY = `k2:${randomBytes(32).toString('base64')}`;

let a: Stack;
beforeAll(async () => {
  a = await startStack({ prefix: 'bank-a:' });
});
afterAll(async () => {
  await a.close();
});
beforeEach(() => {
  a.emulator.emulator.knobs.reset();
});

/** Another instance of the service on the same Redis, prefix and emulator. */
async function sibling(env: Record<string, string> = {}): Promise<Stack> {
  return startStack({ testRedis: a.testRedis, emulator: a.emulator, prefix: a.config.redis.prefix, env });
}

function link(stack: Stack, userId: string): Promise<number> {
  return connectBank(stack.browser(userId));
}

describe('Redis keys', () => {
  it('are all under the prefix: sessions, flows, tokens and the Powens user index', async () => {
    await link(a, 'prefix-user');
    await startConnect(a.browser('prefix-user'));
    const keys = await a.inspect.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith('bank-a:')).toBe(true);
    const kinds = new Set(keys.map((k) => k.slice('bank-a:'.length).split(':')[0]));
    for (const kind of ['sess', 'flow', 'flows', 'token', 'powens-user']) expect(kinds).toContain(kind);
  });
});

describe('the token record', () => {
  it('is sealed under the first key, names its key id, and opens only for its own user', async () => {
    await link(a, 'owner');
    const keys = createKeys(a.config.redis.prefix);
    const sealed = (await a.inspect.get(keys.token('owner'))) ?? '';
    expect(sealed).toMatch(/^v1\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const token = (await a.built.tokens.get('owner'))?.token ?? '';
    expect(a.emulator.emulator.state.findUserByToken(token)).toBeDefined();
    expect(sealed).not.toContain(token);

    // Copied under another user's key, it does not open: the user id is bound in.
    await a.inspect.set(keys.token('thief'), sealed);
    await expect(a.built.tokens.get('thief')).rejects.toBeInstanceOf(AppError);
    await a.inspect.del(keys.token('thief'));
  });
});

describe('key rotation', () => {
  it('a token written under an old key still opens, and is used, after a new key is put first', async () => {
    const first = await link(a, 'rotated-user');
    const oldToken = (await a.built.tokens.get('rotated-user'))?.token;

    const b = await sibling({ TOKEN_ENCRYPTION_KEYS: `${NEW_KEY},${OLD_KEY}` });
    try {
      expect((await b.built.tokens.get('rotated-user'))?.token).toBe(oldToken);
      // A second connection on the rotated instance uses that token (temporary code, same Powens user).
      const second = await link(b, 'rotated-user');
      const state = a.emulator.emulator.state;
      expect(state.connection(second)?.id_user).toBe(state.connection(first)?.id_user);
      // New tokens are sealed under the new key.
      await link(b, 'new-user-after-rotation');
      expect(await b.inspect.get(createKeys(b.config.redis.prefix).token('new-user-after-rotation'))).toMatch(/^v1\.k2\./);
    } finally {
      await b.close();
    }
  });

  it('a token whose key was removed too early is an internal error naming the key id, never "not linked"', async () => {
    await link(a, 'orphaned-user');
    const b = await sibling({ TOKEN_ENCRYPTION_KEYS: NEW_KEY });
    try {
      const err = await b.built.tokens.get('orphaned-user').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INTERNAL');
      expect((err as AppError).logDetail).toEqual({ reason: 'sealed with key "k1", which is not in TOKEN_ENCRYPTION_KEYS' });
    } finally {
      await b.close();
    }
  });
});

describe('several instances', () => {
  it('complete on one instance a flow started on another', async () => {
    // Behind one load balancer, instances share PUBLIC_URL and so the redirect URI.
    const b = await sibling({ POWENS_REDIRECT_URI: `${a.url}/callback` });
    try {
      const onA = a.browser('roaming-user');
      const back = await completeWebview(await startConnect(onA), { kind: 'connect' });
      // The same browser (same cookie), answered by the other instance behind the load balancer.
      const onB = new Browser(b.url, { 'x-user-id': 'roaming-user' });
      for (const [name, value] of onA.cookies) onB.cookies.set(name, value);
      const cb = await onB.get(`${b.url}/callback${back.search}`);
      expect(cb.status).toBe(303);
      expect((await a.built.tokens.get('roaming-user'))?.token).toEqual(expect.any(String));
    } finally {
      await b.close();
    }
  });
});
