// The connections cache during a Powens outage, with three instances of the service on one Redis
// (docs/RELIABILITY.md): one fill asks Powens, its failure is shared with
// the requests waiting on every instance, which are woken by a message rather than polling.
import { randomBytes } from 'node:crypto';
import { ConnectionsCache, type CacheEvent } from '../../src/connections/cache.js';
import { AppError } from '../../src/errors.js';
import type { ConnectionView } from '../../src/powens/status.js';
import { createKeys } from '../../src/storage/keys.js';
import { Wakeups } from '../../src/storage/pubsub.js';
import { connectBank, connectionView, freshUser } from '../helpers/api.js';
import { parseMetrics, sampleValue } from '../helpers/prometheus.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let instances: Stack[];
const opened: Wakeups[] = [];
beforeAll(async () => {
  const first = await startStack();
  const shared = { testRedis: first.testRedis, emulator: first.emulator, prefix: first.config.redis.prefix };
  instances = [first, await startStack(shared), await startStack(shared)];
});
afterAll(async () => {
  for (const w of opened) w.close();
  for (const stack of [...instances].reverse()) await stack.close();
});
afterEach(() => {
  first().emulator.emulator.knobs.reset();
});

const first = (): Stack => instances[0] as Stack;
const knobs = () => first().emulator.emulator.knobs;
const keys = () => createKeys(first().config.redis.prefix);

async function get(url: string, userId: string): Promise<{ status: number; code: unknown }> {
  const res = await fetch(`${url}/me/connections`, { headers: { 'x-user-id': userId } });
  const body = (await res.json()) as { code?: unknown };
  return { status: res.status, code: body.code };
}

async function events(stack: Stack): Promise<Record<CacheEvent, number>> {
  const samples = parseMetrics(await stack.built.metrics.registry.metrics());
  const count = (event: CacheEvent): number => sampleValue(samples, 'connections_cache_events_total', { event });
  return {
    hit: count('hit'),
    miss: count('miss'),
    shared_wait: count('shared_wait'),
    fill_failure: count('fill_failure'),
    negative_hit: count('negative_hit'),
  };
}

async function listCalls(stack: Stack): Promise<number> {
  const samples = parseMetrics(await stack.built.metrics.registry.metrics());
  return samples
    .filter((s) => s.name === 'powens_request_duration_seconds_count' && s.labels['endpoint'] === 'connections.list')
    .reduce((n, s) => n + s.value, 0);
}

/**
 * What `during` costs Redis: the commands clients sent while it ran (MONITOR), not counting the
 * commands scripts run inside Redis, nor MONITOR's own connection.
 */
async function commandsDuring<T>(during: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
  const monitor = await first().inspect.monitor();
  const seen: string[] = [];
  const marker = `end-of-count-${randomBytes(4).toString('hex')}`;
  let ended = false;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (ended || source === 'lua') return;
    if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) ended = true;
    else seen.push((args[0] ?? '').toLowerCase());
  });
  try {
    const result = await during();
    await first().inspect.echo(marker);
    await waitFor(() => ended, { timeoutMs: 5000, what: 'MONITOR to show the end marker' });
    return { result, commands: seen };
  } finally {
    monitor.disconnect();
  }
}

describe('Powens hanging, three instances on one Redis', () => {
  test('concurrent requests for one user make one Powens call across the instances; every one answers 502 and no waiter calls Powens', async () => {
    const { userId, b } = freshUser(first());
    await connectBank(b);
    const callsBefore = await Promise.all(instances.map(listCalls));
    const before = await Promise.all(instances.map(events));
    knobs().reset();
    knobs().hang('connections.list');
    const requests = 30;
    const { result: answers, commands } = await commandsDuring(() =>
      Promise.all(Array.from({ length: requests }, (_, i) => get((instances[i % 3] as Stack).url, userId))),
    );
    expect(answers.map((a) => `${a.status} ${String(a.code)}`)).toEqual(Array.from({ length: requests }, () => '502 POWENS_UNAVAILABLE'));
    expect(knobs().calls('connections.list')).toBe(1);
    // Exactly one instance called Powens: the others' requests waited and took the shared failure.
    const calls = (await Promise.all(instances.map(listCalls))).map((n, i) => n - (callsBefore[i] ?? 0));
    expect(calls.sort()).toEqual([0, 0, 1]);
    const after = await Promise.all(instances.map(events));
    const delta = (event: CacheEvent): number => after.reduce((n, e, i) => n + e[event] - (before[i]?.[event] ?? 0), 0);
    expect({ miss: delta('miss'), fill_failure: delta('fill_failure'), shared_wait: delta('shared_wait') }).toEqual({
      miss: 1,
      fill_failure: 1,
      shared_wait: requests - 1,
    });
    expect(delta('negative_hit')).toBeGreaterThanOrEqual(2);
    // Woken, not polling: a few commands per request (a 20 ms poll would cost about 50 per second of wait).
    expect(commands.length).toBeLessThanOrEqual(4 * requests);
  });

  test('a request arriving while the failure is kept answers with it at once, on any instance, without asking Powens', async () => {
    const { userId, b } = freshUser(first());
    await connectBank(b);
    knobs().reset();
    knobs().hang('connections.list', { times: 1 });
    expect((await get(first().url, userId)).status).toBe(502);
    const third = instances[2] as Stack;
    const before = await events(third);
    expect(await get(third.url, userId)).toEqual({ status: 502, code: 'POWENS_UNAVAILABLE' });
    expect((await events(third)).negative_hit - before.negative_hit).toBe(1);
    expect(knobs().calls('connections.list')).toBe(1);
  });
});

describe('ConnectionsCache across instances', () => {
  /** A load that answers when told to; counts its calls. */
  function gate(): { load: () => Promise<ConnectionView[]>; open(v: ConnectionView[]): void; fail(err: unknown): void; calls: () => number } {
    let calls = 0;
    let resolve: (v: ConnectionView[]) => void = () => undefined;
    let reject: (err: unknown) => void = () => undefined;
    const promise = new Promise<ConnectionView[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return {
      load: () => {
        calls += 1;
        return promise;
      },
      open: (v) => resolve(v),
      fail: (err) => reject(err),
      calls: () => calls,
    };
  }

  /** Two caches on one Redis, as two instances; the waiter polls only once a minute, so only a message can wake it in time. */
  function pair(): { filler: ConnectionsCache; waiter: ConnectionsCache; userId: string } {
    const redis = (instances[1] as Stack).redis;
    const wakeups = new Wakeups(redis);
    opened.push(wakeups);
    return {
      filler: new ConnectionsCache(first().redis, keys(), { ttlSeconds: 60, lockMs: 60_000 }),
      waiter: new ConnectionsCache(redis, keys(), { ttlSeconds: 60, lockMs: 60_000, pollMs: 60_000, wakeups }),
      userId: `user-${randomBytes(6).toString('hex')}`,
    };
  }

  async function lockTaken(userId: string): Promise<void> {
    await waitFor(async () => (await first().inspect.get(keys().connectionsLock(userId))) !== null, {
      timeoutMs: 2000,
      intervalMs: 5,
      what: `the cache fill for ${userId} to take its lock`,
    });
  }

  /**
   * A fill under way on the first instance, held by `slow`, and a request for the same user on
   * the second, waiting for it (its own load, should it come to load, is `own`).
   */
  async function fillWithWaiter() {
    const { filler, waiter, userId } = pair();
    const slow = gate();
    const filled = filler.get(userId, slow.load);
    await lockTaken(userId);
    const own = gate();
    const waited = waiter.get(userId, own.load);
    // Time for the waiter to find the lock taken and wait.
    await new Promise((r) => setTimeout(r, 200));
    return { filler, waiter, userId, slow, filled, own, waited };
  }

  test('a waiting request is woken by the message of the fill it waits for, and costs a bounded number of commands', async () => {
    const { filler, waiter, userId } = pair();
    const slow = gate();
    const filled = filler.get(userId, slow.load);
    await lockTaken(userId);
    const own = gate();
    const { result: waited, commands } = await commandsDuring(async () => {
      const waiting = waiter.get(userId, own.load);
      // Long enough for a 20 ms poll to have looked 25 times.
      await new Promise((r) => setTimeout(r, 500));
      slow.open([connectionView(7)]);
      return waiting;
    });
    expect(waited).toEqual([connectionView(7)]);
    expect(await filled).toEqual(waited);
    expect(own.calls()).toBe(0);
    // The waiter's GET and look, SUBSCRIBE, its look once subscribed, the filler's STORE, the look
    // it was woken for, UNSUBSCRIBE; its subscriber connection's start (INFO, as a ready check).
    expect(commands.filter((c) => c !== 'info').sort()).toEqual(['eval', 'eval', 'eval', 'eval', 'get', 'subscribe', 'unsubscribe'].sort());
  });

  test('a failed fill wakes its waiters with its error; they do not load', async () => {
    const { slow, filled, own, waited } = await fillWithWaiter();
    slow.fail(new AppError('POWENS_UNAVAILABLE'));
    await expect(filled).rejects.toMatchObject({ code: 'POWENS_UNAVAILABLE' });
    await expect(waited).rejects.toMatchObject({ code: 'POWENS_UNAVAILABLE' });
    expect(own.calls()).toBe(0);
  });

  test('an invalidation wins over a late fill: its answer is not stored, and the waiter reads afresh', async () => {
    const { waiter, userId, slow, filled, own: fresh, waited } = await fillWithWaiter();
    await waiter.invalidate(userId);
    slow.open([connectionView(1)]);
    expect(await filled).toEqual([connectionView(1)]);
    // Woken by the late fill, the waiter finds no answer and the lock free: it loads itself.
    await waitFor(() => fresh.calls() === 1, { timeoutMs: 5000, what: 'the waiter to load after the late fill' });
    fresh.open([]);
    expect(await waited).toEqual([]);
    expect(await first().inspect.get(keys().connectionsCache(userId))).toBe('[]');
  });

  test('an invalidation wins over a late failure: it is not kept, the next request loads', async () => {
    const { filler, userId } = pair();
    const slow = gate();
    const filled = filler.get(userId, slow.load);
    await lockTaken(userId);
    await filler.invalidate(userId);
    slow.fail(new AppError('POWENS_UNAVAILABLE'));
    await expect(filled).rejects.toMatchObject({ code: 'POWENS_UNAVAILABLE' });
    expect(await first().inspect.get(keys().connectionsFailure(userId))).toBeNull();
    expect(await filler.get(userId, () => Promise.resolve([connectionView(2)]))).toEqual([connectionView(2)]);
  });

  test('a failure that is not Powens’ (a bug, a Redis error) is not kept: a waiter fills in its turn', async () => {
    const { slow, filled, own, waited } = await fillWithWaiter();
    slow.fail(new AppError('STORE_UNAVAILABLE'));
    await expect(filled).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await waitFor(() => own.calls() === 1, { timeoutMs: 5000, what: 'the waiter to fill in its turn' });
    own.open([connectionView(3)]);
    expect(await waited).toEqual([connectionView(3)]);
  });

  test('when the subscriber connection drops, a waiter stops trusting messages alone: woken, it looks on its own and still gets the fill', async () => {
    const redis = (instances[1] as Stack).redis;
    const wakeups = new Wakeups(redis);
    opened.push(wakeups);
    const waiter = new ConnectionsCache(redis, keys(), { ttlSeconds: 60, lockMs: 60_000, pollMs: 200, wakeups });
    const filler = new ConnectionsCache(first().redis, keys(), { ttlSeconds: 60, lockMs: 60_000 });
    const userId = `user-${randomBytes(6).toString('hex')}`;
    const slow = gate();
    const filled = filler.get(userId, slow.load);
    await lockTaken(userId);
    const own = gate();
    const waited = waiter.get(userId, own.load);
    const probe = await wakeups.listen(keys().connectionsFilled(userId));
    expect(probe.reliable()).toBe(true);
    // The lock has a minute left: only a message, or the drop, can wake the waiter before then.
    await first().inspect.client('KILL', 'TYPE', 'pubsub');
    await waitFor(() => !probe.reliable(), { timeoutMs: 5000, what: 'the subscriber connection to be seen dropped' });
    probe.stop();
    slow.open([connectionView(9)]);
    expect(await waited).toEqual([connectionView(9)]);
    expect(await filled).toEqual(await waited);
    expect(own.calls()).toBe(0);
  });
});
