import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { completeWebview } from '../../emulator/index.js';
import type { RedisConfig, TokenKey } from '../../src/config.js';
import { parseTokenKeys } from '../../src/config/values.js';
import { createKeys } from '../../src/storage/keys.js';
import { connectRedis, createRedis, ReplicaWaiter, type RedisClient } from '../../src/storage/redis.js';
import { rotateTokenKeys } from '../../src/storage/rotate.js';
import { TokenStore, WRITE_FATE_TTL_SECONDS } from '../../src/storage/tokens.js';
import { counter, expectPowensUsersMatchTokens, settled } from '../helpers/links.js';
import { expectErrorPage } from '../helpers/pages.js';
import { startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { startConnect, startStack, TEST_TOKEN_KEY, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The durability of a first token (docs/REFERENCE.md, "Storage"), against real redis-servers:
 * - a write whose answer is lost can still run much later (the trap, reproduced), so its fate is
 *   recorded beside it and settled before anything is deleted; a late write is then a no-op;
 * - on a replicated Redis a write counts only once a replica acknowledged it (WAIT), and a link
 *   whose write is not acknowledged is undone, and its Powens user deleted.
 */

jest.setTimeout(60_000);

function testKeys(): TokenKey[] {
  const parsed = parseTokenKeys(TEST_TOKEN_KEY);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}
const KEYS = testKeys();

let master: TestRedis;
let replica: TestRedis;
let admin: Redis;
let onReplica: Redis;
const clients: RedisClient[] = [];

function redisConfig(url: string, commandTimeoutMs: number): RedisConfig {
  return {
    url,
    prefix: 'unused:',
    sentinels: [],
    sentinelName: undefined,
    sentinelPassword: undefined,
    cluster: false,
    commandTimeoutMs,
    startupTimeoutMs: 3000,
    minReplicas: 'auto',
  };
}

/** A client as the service builds it (every fail-fast option), with its own command timeout. */
async function client(url: string, commandTimeoutMs = 300): Promise<RedisClient> {
  const cfg = redisConfig(url, commandTimeoutMs);
  const c = createRedis(cfg);
  c.on('error', () => undefined);
  await connectRedis(c, cfg);
  clients.push(c);
  return c;
}

function store(c: RedisClient, prefix: string, replicas?: ReplicaWaiter): TokenStore {
  return new TokenStore(c, createKeys(prefix), KEYS, replicas === undefined ? {} : { replicas });
}

const record = (n: number): { token: string; powensUserId: number; createdAt: string } => ({
  token: `token-${n}-${randomBytes(6).toString('hex')}`,
  powensUserId: n,
  createdAt: new Date().toISOString(),
});

/**
 * Holds `c`'s connection busy inside Redis for `seconds` (a blocking pop nobody feeds): what it
 * sends next waits in Redis' buffer, times out at the client, and runs when the pop ends. The
 * same happens to every command sent to a Redis that is paused or overloaded.
 */
function holdConnection(c: RedisClient, seconds: number): void {
  void c.blpop(`blocker:${randomBytes(4).toString('hex')}`, seconds).catch(() => undefined);
}

/** Until Redis has run the command that `name`'s connection sent last. */
async function ran(name: string, command: string): Promise<void> {
  await waitFor(async () => new RegExp(`name=${name} [^\\n]*cmd=${command}\\b`).test(String(await admin.client('LIST'))), {
    timeoutMs: 10_000,
    what: `Redis to run the ${command} that ${name} sent`,
  });
}

beforeAll(async () => {
  master = await startTestRedis();
  replica = await startTestRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  admin = new Redis(master.url);
  onReplica = new Redis(replica.url);
  await waitFor(async () => /master_link_status:up/.test(await onReplica.info('replication')), {
    timeoutMs: 15_000,
    what: 'the replica to be in sync with its master',
  });
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  admin.disconnect();
  onReplica.disconnect();
  replica.resume();
  await replica.close();
  await master.close();
});

describe('a write whose answer was lost', () => {
  it('still runs once Redis reaches it: a plain SET NX that timed out stores its value later (the trap)', async () => {
    const late = await client(master.url);
    await late.client('SETNAME', 'plain-writer');
    holdConnection(late, 1);
    await expect(late.set('trap:token', 'written-after-its-timeout', 'NX')).rejects.toThrow(/timed out/i);
    expect(await admin.get('trap:token')).toBeNull();
    await ran('plain-writer', 'set');
    expect(await admin.get('trap:token')).toBe('written-after-its-timeout');
  });

  it('settled first (cancelled), is a no-op when it runs later: no token for a user the service gave up', async () => {
    const late = await client(master.url);
    await late.client('SETNAME', 'token-writer');
    const other = await client(master.url);
    const prefix = 'late1:';
    const w = store(late, prefix).prepare('alice', record(1));
    holdConnection(late, 1);
    await expect(store(late, prefix).write(w)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    // Asked on another connection while the write waits in Redis: it has not run, so it never will.
    expect(await store(other, prefix).settle(w)).toEqual({ status: 'cancelled', durable: true });
    // The index entry is sent right after the script, on the same connection: once it ran, so did the script.
    await ran('token-writer', 'set');
    const keys = createKeys(prefix);
    expect(await admin.get(keys.token('alice'))).toBeNull();
    expect(await admin.get(keys.tokenWrite('alice', w.writeId))).toBe('cancelled');
    expect(await admin.ttl(keys.tokenWrite('alice', w.writeId))).toBeGreaterThan(WRITE_FATE_TTL_SECONDS - 60);
  });

  it('settled after it ran, is found stored, and stays', async () => {
    const c = await client(master.url);
    const tokens = store(c, 'late2:');
    const w = tokens.prepare('bob', record(2));
    expect(await tokens.write(w)).toEqual({ status: 'stored', durable: true });
    expect(await tokens.settle(w)).toEqual({ status: 'stored', durable: true });
    expect(await tokens.get('bob')).toMatchObject({ token: w.record.token, writeId: w.writeId });
  });

  it('over another record (another tab first), is found refused and stores nothing', async () => {
    const c = await client(master.url);
    const tokens = store(c, 'late3:');
    const first = tokens.prepare('carol', record(3));
    const second = tokens.prepare('carol', record(4));
    expect((await tokens.write(first)).status).toBe('stored');
    expect((await tokens.write(second)).status).toBe('refused');
    expect((await tokens.settle(second)).status).toBe('refused');
    expect(await tokens.get('carol')).toMatchObject({ token: first.record.token });
  });
});

describe('undoing a stored write', () => {
  it('removes its record even after a key rotation re-sealed it, and cancels the write', async () => {
    const c = await client(master.url);
    const prefix = 'undo1:';
    const old = store(c, prefix);
    const w = old.prepare('dave', record(5));
    expect((await old.write(w)).status).toBe('stored');
    const newKey = { id: 'k2', key: randomBytes(32) };
    const report = await rotateTokenKeys({ redis: c, keys: createKeys(prefix), tokenKeys: [newKey, ...KEYS] });
    expect(report.resealed).toBe(1);
    const rotated = new TokenStore(c, createKeys(prefix), [newKey, ...KEYS]);
    expect(await rotated.undo(w)).toBe(true);
    expect(await rotated.get('dave')).toBeNull();
    expect((await rotated.settle(w)).status).toBe('cancelled');
  });

  it("leaves a later write's record alone", async () => {
    const c = await client(master.url);
    const tokens = store(c, 'undo2:');
    const first = tokens.prepare('erin', record(6));
    expect((await tokens.write(first)).status).toBe('stored');
    expect(await tokens.deleteIfCurrent('erin', first.record)).toBe(true);
    const second = tokens.prepare('erin', record(7));
    expect((await tokens.write(second)).status).toBe('stored');
    expect(await tokens.undo(first)).toBe(true);
    expect(await tokens.get('erin')).toMatchObject({ token: second.record.token });
  });
});

describe('on a master with a replica', () => {
  it('a write is durable once the replica acknowledged it (auto: the replica is seen)', async () => {
    const c = await client(master.url, 1000);
    const waiter = new ReplicaWaiter(c, { minReplicas: 'auto', waitMs: 500 });
    const tokens = store(c, 'wait1:', waiter);
    expect(await waiter.required()).toBe(1);
    const w = tokens.prepare('frank', record(8));
    expect(await tokens.write(w)).toEqual({ status: 'stored', durable: true });
    expect(await onReplica.get(createKeys('wait1:').token('frank'))).toEqual(expect.any(String));
  });

  it('a write the replica does not acknowledge in time is stored but not durable', async () => {
    const c = await client(master.url, 1000);
    const tokens = store(c, 'wait2:', new ReplicaWaiter(c, { minReplicas: 'auto', waitMs: 200 }));
    replica.pause();
    try {
      expect(await tokens.write(tokens.prepare('grace', record(9)))).toEqual({ status: 'stored', durable: false });
    } finally {
      replica.resume();
    }
  });

  it('a write whose connection closed before the WAIT is not taken for acknowledged', async () => {
    const c = await client(master.url, 1000);
    const waiter = new ReplicaWaiter(c, { minReplicas: 1, waitMs: 500 });
    const key = createKeys('wait3:').token('heidi');
    const mark = waiter.mark(key);
    await c.set(key, 'x');
    // The connection drops and comes back (a failover does that): a WAIT on the new one counts nothing of the old.
    const closed = new Promise((resolve) => c.once('close', resolve));
    (c as Redis).disconnect(true);
    await closed;
    await waitFor(() => c.status === 'ready', { timeoutMs: 5000, what: 'the client to reconnect' });
    expect(await waiter.acknowledged(mark, key)).toBe(false);
    expect(await waiter.acknowledged(waiter.mark(key), key)).toBe(true);
  });

  it('REDIS_MIN_REPLICAS=0 never waits; 2 with one replica is never acknowledged', async () => {
    const c = await client(master.url, 1000);
    const none = new ReplicaWaiter(c, { minReplicas: 0, waitMs: 200 });
    const two = new ReplicaWaiter(c, { minReplicas: 2, waitMs: 200 });
    const key = 'wait4:k';
    const marks = [none.mark(key), two.mark(key)] as const;
    await c.set(key, 'y');
    expect(await none.acknowledged(marks[0], key)).toBe(true);
    expect(await two.acknowledged(marks[1], key)).toBe(false);
  });
});

describe('a first connection on a master whose replica does not acknowledge', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ testRedis: master, env: { POWENS_LINK_MODE: 'exchange' } });
  });
  afterAll(async () => {
    replica.resume();
    await stack.close();
  });

  it('is a 503 page: the stored token is taken back, and its Powens user deleted once that is acknowledged', async () => {
    const b = stack.browser('unacknowledged');
    const back = await completeWebview(await startConnect(b), { kind: 'connect' });
    replica.pause();
    let resumed = false;
    try {
      const page = await b.get(back.href);
      expectErrorPage(stack, page, { status: 503, errorCode: 'STORE_UNAVAILABLE', retry: '/connect' });
      // Taken back at once on the master; the user is told nothing was linked.
      expect(await stack.built.tokens.get('unacknowledged')).toBeNull();
      expect(stack.emulator.emulator.state.users()).toHaveLength(1);
      replica.resume();
      resumed = true;
      await settled(stack);
      expect(stack.emulator.emulator.state.users()).toEqual([]);
      expect(await counter(stack, 'powens_users_deleted_total', { reason: 'unconfirmed_write', outcome: 'ok' })).toBe(1);
    } finally {
      if (!resumed) replica.resume();
    }
    // With the replica back, the next attempt links, durably.
    const again = await completeWebview(await startConnect(b), { kind: 'connect' });
    expect((await b.get(again.href)).status).toBe(303);
    await expectPowensUsersMatchTokens(stack);
  });
});
