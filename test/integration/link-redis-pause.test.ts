import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { expectPowensUsersMatchTokens, firstConnection, LINK_MODES, resetLinks, settled, type LinkModeName } from '../helpers/links.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

/**
 * Redis paused (SIGSTOP) for 3 s and for 10 s while first connections run in a loop, in both link
 * modes. Commands sent to a paused Redis time out at the service but still run when it resumes,
 * some on a connection ioredis has already replaced. Once the background work has ended: every
 * user told "linked" (303) has a stored token, and the emulator holds exactly the Powens users
 * whose tokens are stored (no orphan, no dangling token). Request times are measured by the
 * fault scenario (bench/faults/redis-pause-links.ts), not asserted here.
 */

jest.setTimeout(180_000);

const WORKERS = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(LINK_MODES)('POWENS_LINK_MODE=%s', (mode: LinkModeName) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { POWENS_LINK_MODE: mode, POWENS_TIMEOUT_MS: '2000' } });
  });
  afterAll(async () => {
    stack.testRedis.resume();
    await stack.close();
  });

  it.each([3000, 10_000])('paused %d ms: every link told ok is stored; no orphaned Powens user, no dangling token', async (pauseMs) => {
    await resetLinks(stack);
    const told: string[] = [];
    const tried: string[] = [];
    let running = true;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; running; i++) {
        const userId = `pause-${pauseMs}-${w}-${i}`;
        tried.push(userId);
        if (await firstConnection(stack, userId).catch(() => false)) told.push(userId);
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    try {
      await waitFor(() => told.length >= WORKERS, { timeoutMs: 30_000, what: 'a few links before the pause' });
      stack.testRedis.pause();
      try {
        await sleep(pauseMs);
      } finally {
        stack.testRedis.resume();
      }
      const before = told.length;
      await waitFor(() => told.length >= before + WORKERS, { timeoutMs: 60_000, what: 'links to succeed again after the pause' });
    } finally {
      running = false;
      // Each worker ends with the first connection it has under way.
      await withinDeadline(Promise.all(workers), 30_000, 'the link workers to end their last first connection');
    }
    await settled(stack, 90_000);

    for (const userId of told) expect({ userId, stored: (await stack.built.tokens.get(userId)) !== null }).toEqual({ userId, stored: true });
    await expectPowensUsersMatchTokens(stack);
    expect(tried.length).toBeGreaterThan(told.length);
  });
});
