import { expect } from '@jest/globals';
import { completeWebview } from '../../emulator/index.js';
import type { Stack } from './stack.js';
import { withinDeadline } from './wait.js';

/**
 * The bookkeeping of linking, read from both sides: the Powens users whose tokens the service
 * stores (every token record under the stack's prefix, opened with its own keys) and the users
 * the emulator holds. A first connection's bad path is handled only when they are the same set.
 */

/** One first connection of a new user, to its end; true when the user was told it is linked (303). */
export async function firstConnection(stack: Stack, userId: string): Promise<boolean> {
  const b = stack.browser(userId);
  const hop = await b.get('/connect');
  if (hop.status !== 302 || hop.location === undefined) return false;
  const back = await completeWebview(hop.location, { kind: 'connect' });
  return (await b.get(back.href)).status === 303;
}

/** Powens user ids of every stored token, sorted; a record without one counts as -1. */
export async function storedPowensUsers(stack: Stack): Promise<number[]> {
  const prefix = stack.config.redis.prefix;
  const ids: number[] = [];
  let cursor = '0';
  do {
    const [next, found] = await stack.inspect.scan(cursor, 'MATCH', `${prefix}token:*`, 'COUNT', 500);
    cursor = next;
    for (const key of found) {
      const userId = decodeURIComponent(key.slice(`${prefix}token:`.length));
      const record = await stack.built.tokens.get(userId);
      if (record !== null) ids.push(record.powensUserId ?? -1);
    }
  } while (cursor !== '0');
  return ids.sort((a, b) => a - b);
}

/** Powens user ids the emulator holds, sorted. */
export function emulatorUsers(stack: Stack): number[] {
  return stack.emulator.emulator.state
    .users()
    .map((u) => u.id)
    .sort((a, b) => a - b);
}

/** Waits for the service's background work (reconciles, deletions) to end, within `ms`. */
export async function settled(stack: Stack, ms = 20_000): Promise<void> {
  await withinDeadline(stack.built.connections.idle(), ms, 'the background work of the link flows to end');
}

/**
 * No orphaned Powens user and no dangling token: once the background work has ended, the
 * emulator holds exactly the Powens users whose tokens are stored.
 */
export async function expectPowensUsersMatchTokens(stack: Stack): Promise<void> {
  await settled(stack);
  expect({ emulator: emulatorUsers(stack) }).toEqual({ emulator: await storedPowensUsers(stack) });
}

/** A clean slate for one test: the emulator's data and knobs, and every key under the stack's prefix. */
export async function resetLinks(stack: Stack): Promise<void> {
  await settled(stack);
  stack.emulator.emulator.knobs.resetAll();
  let cursor = '0';
  do {
    const [next, found] = await stack.inspect.scan(cursor, 'MATCH', `${stack.config.redis.prefix}*`, 'COUNT', 500);
    cursor = next;
    if (found.length > 0) await stack.inspect.del(...found);
  } while (cursor !== '0');
}

/** The value of one counter of the app's registry with these labels (0 when never counted). */
export async function counter(stack: Stack, name: string, labels: Record<string, string>): Promise<number> {
  const metric = await stack.built.metrics.registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  return value ?? 0;
}

/** Both link modes, for describe.each. */
export const LINK_MODES = ['exchange', 'init'] as const;
export type LinkModeName = (typeof LINK_MODES)[number];
