/**
 * Fault scenario `slow-lists`: Powens' connection list hangs while the frontend keeps asking for
 * it at 50 requests a second (no connections cache, so each one is a call to Powens), and users
 * go on linking their banks. One service process (the production build, dist/main.js), its own
 * redis-server, the emulator in this process.
 *
 * Figures: first connections completed (/connect, the webview, /callback answered 303) in 10 s
 * with Powens healthy, then in 10 s with the lists hanging; the list answers; the pool
 * rejections the service counted. Before the bulkheads, the hanging lists took every socket of
 * the one shared pool (64) and the callbacks waited behind them until their own deadline.
 *
 * `node build/bench/faults/slow-lists.js` runs it alone (after `npm run build` and
 * `tsc -p bench/tsconfig.json`); `npm run faults` runs it with the others. FAULTS_SERVICE_DIST
 * names another build of the service (e.g. an older release's dist/) to compare.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { connectBank } from '../../test/helpers/api.js';
import { Browser } from '../../test/helpers/browser.js';
import { freePort, serviceEnv, startChild, startRedis, waitForHttp, type Child } from '../processes.js';
import { SERVICE_DIST } from './common.js';
import { runIfMain } from './standalone.js';
import type { FaultScenario } from './types.js';

const PHASE_MS = 10_000;
const LISTS_PER_SECOND = 50;
const FLOW_WORKERS = 4;
const POWENS_TIMEOUT_MS = 5000;
const CLIENT_ID = 'slow-lists-client';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const METRICS_TOKEN = randomBytes(24).toString('base64url');

interface Flows {
  completed: number;
  failed: number;
}

/** FLOW_WORKERS loops of first connections for `ms`: how many completed and failed. */
async function flows(url: string, ms: number, tag: string): Promise<Flows> {
  const end = Date.now() + ms;
  const out: Flows = { completed: 0, failed: 0 };
  await Promise.all(
    Array.from({ length: FLOW_WORKERS }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        try {
          await connectBank(new Browser(url, { 'x-user-id': `${tag}-${w}-${i}-${randomBytes(3).toString('hex')}` }));
          out.completed += 1;
        } catch {
          out.failed += 1;
        }
      }
    }),
  );
  return out;
}

/** List requests at a steady rate (open loop: one every 1000/rate ms, whatever the answers), until stopped. */
function listLoad(url: string, userId: string): { stop(): Promise<Map<string, number>> } {
  const answers = new Map<string, number>();
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p = fetch(`${url}/me/connections`, { headers: { 'x-user-id': userId }, signal: AbortSignal.timeout(60_000) })
      .then(async (res) => {
        await res.arrayBuffer();
        return String(res.status);
      })
      .catch(() => 'no answer')
      .then((a) => {
        answers.set(a, (answers.get(a) ?? 0) + 1);
      });
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }, 1000 / LISTS_PER_SECOND);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(pending);
      return answers;
    },
  };
}

async function poolRejections(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const found = [...(await res.text()).matchAll(/^powens_pool_rejections_total\{pool="(\w+)"\} (\d+)/gm)].map((m) => `${m[1] ?? ''}:${m[2] ?? ''}`);
  return found.length === 0 ? 'not counted' : found.join(' ');
}

const summary = (answers: Map<string, number>): string => [...answers].map(([a, n]) => `${a}: ${n}`).join(', ');

export const scenario: FaultScenario = {
  name: 'slow-lists',
  describe: `first connections for ${PHASE_MS / 1000} s with Powens healthy, then ${PHASE_MS / 1000} s while the connection list hangs and is asked ${LISTS_PER_SECOND} times a second`,
  async run(ctx) {
    const redis = await startRedis();
    let emulator: RunningEmulator | undefined;
    let service: Child | undefined;
    try {
      emulator = await startEmulator({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: ['http://127.0.0.1:*'] }] });
      const port = await freePort();
      service = startChild(
        'service',
        process.execPath,
        [join(SERVICE_DIST, 'main.js')],
        serviceEnv(
          { port, redisUrl: redis.url, apiUrl: emulator.apiUrl, webviewUrl: emulator.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
          {
            POWENS_TIMEOUT_MS: String(POWENS_TIMEOUT_MS),
            // Every list a call to Powens, as for many users whose lists are not cached.
            CONNECTIONS_CACHE_TTL_SECONDS: '0',
            METRICS_TOKEN,
            LOG_LEVEL: 'error',
          },
        ),
      );
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(service, `${url}/readyz`);
      ctx.log(`service up (${SERVICE_DIST})`);

      const lister = `lister-${randomBytes(3).toString('hex')}`;
      await connectBank(new Browser(url, { 'x-user-id': lister }));
      const healthy = await flows(url, PHASE_MS, 'healthy');
      ctx.log(`Powens healthy: ${healthy.completed} first connections completed, ${healthy.failed} failed in ${PHASE_MS / 1000} s`);

      emulator.emulator.knobs.hang('connections.list');
      const load = listLoad(url, lister);
      const slow = await flows(url, PHASE_MS, 'slow');
      const lists = await load.stop();
      ctx.log(`lists hanging: ${slow.completed} completed, ${slow.failed} failed; lists ${summary(lists)}`);
      return {
        POWENS_TIMEOUT_MS,
        'flow workers': FLOW_WORKERS,
        'completed per 10 s, Powens healthy': healthy.completed,
        'failed per 10 s, Powens healthy': healthy.failed,
        'completed per 10 s, lists hanging': slow.completed,
        'failed per 10 s, lists hanging': slow.failed,
        'list requests sent': [...lists.values()].reduce((a, b) => a + b, 0),
        'list answers': summary(lists),
        'Powens list calls': emulator.emulator.knobs.calls('connections.list'),
        'pool rejections': await poolRejections(url),
      };
    } finally {
      await service?.stop();
      await emulator?.close();
      await redis.child.stop();
      redis.cleanup();
    }
  },
};

runIfMain(import.meta.url, scenario);
