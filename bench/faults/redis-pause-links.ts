/**
 * Fault scenario: Redis paused (SIGSTOP) for 3 s and for 10 s while first connections run in a
 * loop, in both link modes (POWENS_LINK_MODE). Commands sent to the paused Redis time out at the
 * service and still run when it resumes, some after ioredis has replaced the connection. Figures:
 * links told ok and lost, dangling tokens, orphaned Powens users, and request times against the
 * budget of a request that meets a paused Redis (2 x REDIS_COMMAND_TIMEOUT_MS + POWENS_TIMEOUT_MS).
 * Loopback only: its own redis-server, the emulator and the service in this process.
 */
import { completeWebview } from '../../emulator/index.js';
import { startStack, type Stack } from '../../test/helpers/stack.js';
import type { FaultScenario } from './types.js';

const REDIS_COMMAND_TIMEOUT_MS = 1000;
const POWENS_TIMEOUT_MS = 5000;
const BUDGET_MS = 2 * REDIS_COMMAND_TIMEOUT_MS + POWENS_TIMEOUT_MS;
const WORKERS = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface RunFigures {
  tried: number;
  told: number;
  lost: number;
  dangling: number;
  orphans: number;
  requests: number;
  overBudget: number;
  maxMs: number;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

async function oneRun(mode: 'exchange' | 'init', pauseMs: number, log: (line: string) => void): Promise<RunFigures> {
  const stack: Stack = await startStack({
    env: {
      POWENS_LINK_MODE: mode,
      REDIS_COMMAND_TIMEOUT_MS: String(REDIS_COMMAND_TIMEOUT_MS),
      POWENS_TIMEOUT_MS: String(POWENS_TIMEOUT_MS),
      LOG_LEVEL: 'warn',
    },
  });
  const durations: number[] = [];
  const timed = async <T>(p: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await p();
    } finally {
      durations.push(performance.now() - started);
    }
  };
  const told: string[] = [];
  let tried = 0;
  let running = true;
  const flow = async (userId: string): Promise<boolean> => {
    const b = stack.browser(userId);
    const hop = await timed(() => b.get('/connect'));
    if (hop.status !== 302 || hop.location === undefined) return false;
    const back = await completeWebview(hop.location, { kind: 'connect' });
    return (await timed(() => b.get(back.href))).status === 303;
  };
  const workers = Array.from({ length: WORKERS }, async (_, w) => {
    for (let i = 0; running; i++) {
      tried += 1;
      const userId = `pause-${w}-${i}`;
      if (await flow(userId).catch(() => false)) told.push(userId);
    }
  });
  try {
    await until(() => told.length >= 2 * WORKERS, 30_000);
    stack.testRedis.pause();
    await sleep(pauseMs);
    stack.testRedis.resume();
    const after = told.length;
    await until(() => told.length >= after + 2 * WORKERS, 60_000);
    running = false;
    await Promise.all(workers);
    const idle = await Promise.race([stack.built.connections.idle().then(() => true), sleep(90_000).then(() => false)]);
    if (!idle) log(`${mode} ${pauseMs} ms: background work still pending after 90 s (${stack.built.connections.pendingWork()} jobs)`);

    const emulatorIds = new Set(stack.emulator.emulator.state.users().map((u) => u.id));
    const storedIds: number[] = [];
    let lost = 0;
    for (const userId of told) if ((await stack.built.tokens.get(userId)) === null) lost += 1;
    for (const key of await stack.inspect.keys(`${stack.config.redis.prefix}token:*`)) {
      const record = await stack.built.tokens.get(decodeURIComponent(key.slice(`${stack.config.redis.prefix}token:`.length)));
      if (record !== null) storedIds.push(record.powensUserId ?? -1);
    }
    const stored = new Set(storedIds);
    const figures: RunFigures = {
      tried,
      told: told.length,
      lost,
      dangling: storedIds.filter((id) => !emulatorIds.has(id)).length,
      orphans: [...emulatorIds].filter((id) => !stored.has(id)).length,
      requests: durations.length,
      overBudget: durations.filter((d) => d > BUDGET_MS).length,
      maxMs: Math.round(Math.max(0, ...durations)),
    };
    log(`${mode}, Redis paused ${pauseMs / 1000} s: ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    running = false;
    stack.testRedis.resume();
    await Promise.allSettled(workers);
    await stack.close();
  }
}

export const scenario: FaultScenario = {
  name: 'redis-pause-links',
  describe: `Redis paused 3 s and 10 s (SIGSTOP) during first connections in a loop (${WORKERS} at a time), both link modes; budget per request ${BUDGET_MS} ms`,
  async run(ctx) {
    const out: Record<string, number | string> = { budgetMs: BUDGET_MS };
    for (const mode of ['exchange', 'init'] as const) {
      for (const pauseMs of [3000, 10_000]) {
        const f = await oneRun(mode, pauseMs, (line) => ctx.log(line));
        const tag = `${mode}.${pauseMs / 1000}s`;
        out[`${tag}.toldOk`] = f.told;
        out[`${tag}.lostLinks`] = f.lost;
        out[`${tag}.danglingTokens`] = f.dangling;
        out[`${tag}.orphanedPowensUsers`] = f.orphans;
        out[`${tag}.requestsOverBudget`] = f.overBudget;
        out[`${tag}.maxRequestMs`] = f.maxMs;
      }
    }
    return out;
  },
};
