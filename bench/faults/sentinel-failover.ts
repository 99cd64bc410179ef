/**
 * Fault scenario: a master, a replica and three sentinels (`redis-server --sentinel`), first
 * connections in a loop while SENTINEL FAILOVER moves the master, then while the master is killed
 * (and restarted, to come back as a replica). Figures: links told ok, links lost (told ok, no
 * token on the master named afterwards), orphaned Powens users, dangling tokens, failed flows,
 * and how long the sentinels took to name a new master. Loopback only.
 */
import { Redis } from 'ioredis';
import { completeWebview } from '../../emulator/index.js';
import { parseTokenKeys } from '../../src/config/values.js';
import { createKeys } from '../../src/storage/keys.js';
import { TokenStore } from '../../src/storage/tokens.js';
import { startSentinelSet } from '../../test/helpers/sentinel.js';
import { startStack, TEST_TOKEN_KEY, type Stack } from '../../test/helpers/stack.js';
import type { FaultScenario } from './types.js';

const WORKERS = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

export const scenario: FaultScenario = {
  name: 'sentinel-failover',
  describe: `SENTINEL FAILOVER, then a master kill, under first connections in a loop (${WORKERS} at a time); master + replica + 3 sentinels`,
  async run(ctx) {
    const set = await startSentinelSet('bffmaster');
    let stack: Stack | undefined;
    try {
      stack = await startStack({
        testRedis: await set.master(),
        env: { REDIS_URL: 'redis://bffmaster/0', REDIS_SENTINELS: set.sentinels, REDIS_SENTINEL_NAME: 'bffmaster', LOG_LEVEL: 'warn' },
      });
      const s = stack;
      const out: Record<string, number | string> = {};
      for (const fault of ['failover', 'kill'] as const) {
        const told: string[] = [];
        let tried = 0;
        let running = true;
        const workers = Array.from({ length: WORKERS }, async (_, w) => {
          for (let i = 0; running; i++) {
            tried += 1;
            const userId = `${fault}-${w}-${i}`;
            const b = s.browser(userId);
            const ok = await (async () => {
              const hop = await b.get('/connect');
              if (hop.status !== 302 || hop.location === undefined) return false;
              const back = await completeWebview(hop.location, { kind: 'connect' });
              return (await b.get(back.href)).status === 303;
            })().catch(() => false);
            if (ok) told.push(userId);
          }
        });
        let switchMs = 0;
        try {
          await until(() => told.length >= 2 * WORKERS, 30_000);
          const started = Date.now();
          if (fault === 'failover') await set.failover();
          else {
            const master = await set.master();
            await master.stop();
            await set.masterMovedFrom(master.port);
            await master.start();
          }
          switchMs = Date.now() - started;
          await set.replicasOnline(1, 60_000);
          const after = told.length;
          await until(() => told.length >= after + 2 * WORKERS, 60_000);
        } finally {
          running = false;
          await Promise.allSettled(workers);
        }
        await Promise.race([s.built.connections.idle(), sleep(90_000)]);

        const keys = parseTokenKeys(TEST_TOKEN_KEY);
        if (typeof keys === 'string') throw new Error(keys);
        const client = new Redis({ host: '127.0.0.1', port: await set.masterPort() });
        try {
          const prefix = s.config.redis.prefix;
          const tokens = new TokenStore(client, createKeys(prefix), keys);
          let lost = 0;
          for (const userId of told) if ((await tokens.get(userId)) === null) lost += 1;
          const storedIds = new Set<number>();
          for (const key of await client.keys(`${prefix}token:*`)) {
            storedIds.add((await tokens.get(decodeURIComponent(key.slice(`${prefix}token:`.length))))?.powensUserId ?? -1);
          }
          const emulatorIds = new Set(s.emulator.emulator.state.users().map((u) => u.id));
          out[`${fault}.toldOk`] = told.length;
          out[`${fault}.failedFlows`] = tried - told.length;
          out[`${fault}.lostLinks`] = lost;
          out[`${fault}.orphanedPowensUsers`] = [...emulatorIds].filter((id) => !storedIds.has(id)).length;
          out[`${fault}.danglingTokens`] = [...storedIds].filter((id) => !emulatorIds.has(id)).length;
          out[`${fault}.newMasterAfterMs`] = switchMs;
          ctx.log(`${fault}: ${JSON.stringify(Object.fromEntries(Object.entries(out).filter(([k]) => k.startsWith(fault))))}`);
        } finally {
          client.disconnect();
        }
      }
      return out;
    } finally {
      await stack?.close();
      await set.close();
    }
  },
};
