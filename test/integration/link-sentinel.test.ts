import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { createKeys } from '../../src/storage/keys.js';
import { TokenStore } from '../../src/storage/tokens.js';
import { parseTokenKeys } from '../../src/config/values.js';
import { emulatorUsers, firstConnection, settled } from '../helpers/links.js';
import { startSentinelSet, type SentinelSet } from '../helpers/sentinel.js';
import { startStack, TEST_TOKEN_KEY, type Stack } from '../helpers/stack.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

/**
 * A link is durable before the user is told (docs/REFERENCE.md, "Storage"): with a real master, a replica and
 * three sentinels, first connections run in a loop while the sentinels fail the master over
 * (SENTINEL FAILOVER), and again while the master is killed. Every user who got the success
 * redirect has a token on the master that is named after the failover (0 lost links), and the
 * emulator holds exactly the Powens users whose tokens are stored there.
 */

jest.setTimeout(240_000);

const WORKERS = 3;

let set: SentinelSet;
let stack: Stack;

beforeAll(async () => {
  // A master is down after 5 s of silence, not 1 s: in CI (two jest workers on two cores) the
  // sentinels once made a second failover during the kill test (failovers: 2) and the links made
  // before the kill were lost. Most likely they judged the new master down under load and
  // promoted the node back from the kill, still empty: a second failure, which no write
  // acknowledged by one replica survives. The test is about the first.
  set = await startSentinelSet('bffmaster', { downAfterMs: 5000 });
  const master = await set.master();
  stack = await startStack({
    testRedis: master,
    env: {
      REDIS_URL: 'redis://bffmaster/0',
      REDIS_SENTINELS: set.sentinels,
      REDIS_SENTINEL_NAME: 'bffmaster',
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      POWENS_TIMEOUT_MS: '2000',
    },
  });
});
afterAll(async () => {
  await stack.close();
  await set.close();
});

/** First connections in a loop while `fault` runs; the users told they are linked. */
async function linksDuring(label: string, fault: () => Promise<void>): Promise<{ told: string[]; tried: number }> {
  const told: string[] = [];
  let tried = 0;
  let running = true;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; running; i++) {
      tried += 1;
      const userId = `${label}-${w}-${i}`;
      if (await firstConnection(stack, userId).catch(() => false)) told.push(userId);
    }
  };
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
  try {
    await waitFor(() => told.length >= WORKERS, { timeoutMs: 30_000, what: `links before the ${label}` });
    await fault();
    const after = told.length;
    await waitFor(() => told.length >= after + WORKERS, { timeoutMs: 90_000, what: `links after the ${label}` });
  } finally {
    running = false;
    // Each worker ends with the first connection it has under way.
    await withinDeadline(Promise.all(workers), 30_000, `the link workers to end their last first connection after the ${label}`);
  }
  return { told, tried };
}

/** The tokens and their Powens users on the master the sentinels name now. */
async function onCurrentMaster(): Promise<{ tokens: TokenStore; powensUsers: () => Promise<number[]>; close: () => void }> {
  const keys = parseTokenKeys(TEST_TOKEN_KEY);
  if (typeof keys === 'string') throw new Error(keys);
  const client = new Redis({ host: '127.0.0.1', port: await set.masterPort() });
  const prefix = stack.config.redis.prefix;
  const tokens = new TokenStore(client, createKeys(prefix), keys);
  const powensUsers = async (): Promise<number[]> => {
    const ids: number[] = [];
    for (const key of await client.keys(`${prefix}token:*`)) {
      ids.push((await tokens.get(decodeURIComponent(key.slice(`${prefix}token:`.length))))?.powensUserId ?? -1);
    }
    return ids.sort((a, b) => a - b);
  };
  return { tokens, powensUsers, close: () => client.disconnect() };
}

async function expectNothingLost(told: string[], epochBefore: number): Promise<void> {
  await settled(stack, 120_000);
  const master = await onCurrentMaster();
  try {
    const lost: string[] = [];
    for (const userId of told) if ((await master.tokens.get(userId)) === null) lost.push(userId);
    // A loss says how many failovers the sentinels made meanwhile: one is the fault of the test;
    // more would be failovers of their own (a node that did not answer within 1 s).
    const failovers = lost.length > 0 ? { failovers: (await set.configEpoch()) - epochBefore } : {};
    expect({ told: told.length > 0, lost, ...failovers }).toEqual({ told: true, lost: [] });
    expect({ emulator: emulatorUsers(stack) }).toEqual({ emulator: await master.powensUsers() });
  } finally {
    master.close();
  }
}

describe('first connections under Sentinel', () => {
  it('lose no link told ok while SENTINEL FAILOVER moves the master', async () => {
    const epoch = await set.configEpoch();
    const { told } = await linksDuring('failover', async () => {
      await set.failover();
    });
    await expectNothingLost(told, epoch);
  });

  it('lose no link told ok while the master is killed (and comes back as a replica)', async () => {
    const epoch = await set.configEpoch();
    const { told } = await linksDuring('kill', async () => {
      const master = await set.master();
      await master.stop();
      await set.masterMovedFrom(master.port);
      // Back on its old port: the sentinels make it a replica of the new master.
      await master.start();
      await set.replicasOnline(1, 60_000);
    });
    await expectNothingLost(told, epoch);
  });
});
