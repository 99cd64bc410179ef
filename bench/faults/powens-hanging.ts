/**
 * Fault scenario `powens-hanging`: Powens' connection list hangs (accepts, never answers) while
 * three service processes (the production build, dist/main.js) share one Redis behind a load
 * balancer. USERS linked users each send one GET /me/connections to every instance at once, so
 * every user has a request waiting on each instance for the one fill that asks Powens. Then a
 * second burst, within the few seconds the failure is kept, which should answer at once.
 *
 * Figures: latency p50/p99/max of each burst against POWENS_TIMEOUT_MS, the answers, Powens list
 * calls per user, Redis commands the clients sent per request (MONITOR, scripts counted once) and
 * Redis' own count (INFO commandstats, which also counts the commands a script runs), and the
 * cache events the instances counted. Loopback only: its own redis-server, the emulator in this
 * process, three services as child processes.
 *
 * `node build/bench/faults/powens-hanging.js` runs it alone (after `npm run build` and
 * `tsc -p bench/tsconfig.json`); `npm run faults` runs it with the others. FAULTS_SERVICE_DIST
 * names another build of the service (e.g. an older release's dist/) to compare.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { connectBank } from '../../test/helpers/api.js';
import { Browser } from '../../test/helpers/browser.js';
import { freePort, serviceEnv, startChild, startRedis, waitForHttp, type Child } from '../processes.js';
import { percentile } from '../stats.js';
import { SERVICE_DIST } from './common.js';
import { runIfMain } from './standalone.js';
import type { FaultScenario } from './types.js';

const INSTANCES = 3;
const USERS = 50;
const POWENS_TIMEOUT_MS = 5000;
const CLIENT_ID = 'hanging-client';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const METRICS_TOKEN = randomBytes(24).toString('base64url');

interface Burst {
  times: number[];
  answers: Map<string, number>;
}

async function burst(urls: string[], users: string[]): Promise<Burst> {
  const answers = new Map<string, number>();
  const times: number[] = [];
  await Promise.all(
    users.flatMap((user) =>
      urls.map(async (url) => {
        const started = performance.now();
        let answer: string;
        try {
          const res = await fetch(`${url}/me/connections`, { headers: { 'x-user-id': user }, signal: AbortSignal.timeout(60_000) });
          const body = (await res.json()) as { code?: string };
          answer = `${res.status}${body.code === undefined ? '' : ` ${body.code}`}`;
        } catch {
          answer = 'no answer';
        }
        times.push(performance.now() - started);
        answers.set(answer, (answers.get(answer) ?? 0) + 1);
      }),
    ),
  );
  times.sort((a, b) => a - b);
  return { times, answers };
}

/** Client commands seen by MONITOR while `during` runs (a script is one command), by name. */
async function monitored<T>(redisUrl: string, during: () => Promise<T>): Promise<{ result: T; commands: Map<string, number> }> {
  const client = new Redis(redisUrl);
  const monitor = await client.monitor();
  const commands = new Map<string, number>();
  const marker = `end-${randomBytes(4).toString('hex')}`;
  let ended = false;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (ended || source === 'lua') return;
    const name = (args[0] ?? '').toLowerCase();
    if (name === 'echo' && args[1] === marker) ended = true;
    else commands.set(name, (commands.get(name) ?? 0) + 1);
  });
  try {
    const result = await during();
    await client.echo(marker);
    const deadline = Date.now() + 10_000;
    while (!ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return { result, commands };
  } finally {
    monitor.disconnect();
    client.disconnect();
  }
}

async function commandstatsCalls(redisUrl: string): Promise<number> {
  const client = new Redis(redisUrl);
  try {
    const info = await client.info('commandstats');
    return [...info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  } finally {
    client.disconnect();
  }
}

async function cacheEvents(urls: string[]): Promise<string> {
  const totals = new Map<string, number>();
  for (const url of urls) {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    for (const m of (await res.text()).matchAll(/^connections_cache_events_total\{event="(\w+)"\} (\d+)/gm)) {
      totals.set(m[1] ?? '', (totals.get(m[1] ?? '') ?? 0) + Number(m[2]));
    }
  }
  return totals.size === 0 ? 'not counted' : [...totals].map(([k, v]) => `${k}:${v}`).join(' ');
}

const summary = (answers: Map<string, number>): string => [...answers].map(([a, n]) => `${a}: ${n}`).join(', ');
const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

export const scenario: FaultScenario = {
  name: 'powens-hanging',
  describe: `Powens' connection list hangs; ${INSTANCES} instances on one Redis; ${USERS} users each ask every instance at once (POWENS_TIMEOUT_MS ${POWENS_TIMEOUT_MS})`,
  async run(ctx) {
    const redis = await startRedis();
    let emulator: RunningEmulator | undefined;
    const services: Child[] = [];
    try {
      emulator = await startEmulator({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] });
      const targets = { redisUrl: redis.url, apiUrl: emulator.apiUrl, webviewUrl: emulator.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };
      // One token key for all: the instances share one Redis.
      const shared = {
        POWENS_TIMEOUT_MS: String(POWENS_TIMEOUT_MS),
        TOKEN_ENCRYPTION_KEYS: `hang:${randomBytes(32).toString('base64')}`,
        CONNECTIONS_CACHE_TTL_SECONDS: '60',
        METRICS_TOKEN,
      };
      const ports = await Promise.all(Array.from({ length: INSTANCES }, () => freePort()));
      for (const [i, port] of ports.entries()) {
        // Each its own public URL (serviceEnv's): a flow here starts and ends on one instance.
        const child = startChild(`service-${i + 1}`, process.execPath, [join(SERVICE_DIST, 'main.js')], serviceEnv({ ...targets, port }, shared));
        services.push(child);
        await waitForHttp(child, `http://127.0.0.1:${port}/readyz`);
      }
      const urls = ports.map((p) => `http://127.0.0.1:${p}`);
      ctx.log(`${INSTANCES} services up (${SERVICE_DIST}); linking ${USERS} users`);

      const users = Array.from({ length: USERS }, (_, i) => `hang-${i}-${randomBytes(3).toString('hex')}`);
      for (const [i, user] of users.entries()) {
        await connectBank(new Browser(urls[i % INSTANCES] ?? '', { 'x-user-id': user }));
      }
      const knobs = emulator.emulator.knobs;
      knobs.reset();
      knobs.hang('connections.list');
      const statsBefore = await commandstatsCalls(redis.url);

      const first = await monitored(redis.url, () => burst(urls, users));
      const statsFirst = (await commandstatsCalls(redis.url)) - statsBefore;
      const callsFirst = knobs.calls('connections.list');
      ctx.log(
        `burst 1: ${summary(first.result.answers)}; p50 ${percentile(first.result.times, 50).toFixed(0)} ms, p99 ${percentile(first.result.times, 99).toFixed(0)} ms; ${callsFirst} Powens list calls; commands ${[...first.commands].map(([k, v]) => `${k}:${v}`).join(' ')}`,
      );
      const second = await monitored(redis.url, () => burst(urls, users));
      const callsSecond = knobs.calls('connections.list') - callsFirst;
      ctx.log(
        `burst 2: ${summary(second.result.answers)}; p50 ${percentile(second.result.times, 50).toFixed(0)} ms, p99 ${percentile(second.result.times, 99).toFixed(0)} ms`,
      );
      const requests = first.result.times.length;
      return {
        instances: INSTANCES,
        users: USERS,
        'requests per burst': requests,
        POWENS_TIMEOUT_MS,
        'burst 1 answers': summary(first.result.answers),
        'burst 1 p50 (ms)': Math.round(percentile(first.result.times, 50)),
        'burst 1 p99 (ms)': Math.round(percentile(first.result.times, 99)),
        'burst 1 max (ms)': Math.round(first.result.times[first.result.times.length - 1] ?? NaN),
        'burst 1 p99 under timeout + 1 s': percentile(first.result.times, 99) < POWENS_TIMEOUT_MS + 1000 ? 'yes' : 'NO',
        'burst 1 Powens list calls per user': Number((callsFirst / USERS).toFixed(2)),
        'burst 1 Redis commands sent per request': Number((sum(first.commands) / requests).toFixed(2)),
        'burst 1 Redis commands run per request (commandstats)': Number((statsFirst / requests).toFixed(2)),
        'burst 2 answers': summary(second.result.answers),
        'burst 2 p50 (ms)': Math.round(percentile(second.result.times, 50)),
        'burst 2 p99 (ms)': Math.round(percentile(second.result.times, 99)),
        'burst 2 Powens list calls': callsSecond,
        'burst 2 Redis commands sent per request': Number((sum(second.commands) / requests).toFixed(2)),
        'cache events (all instances)': await cacheEvents(urls),
      };
    } finally {
      for (const s of services) await s.stop();
      await emulator?.close();
      await redis.child.stop();
      redis.cleanup();
    }
  },
};

runIfMain(import.meta.url, scenario);
