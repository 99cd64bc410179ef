/**
 * Fault scenario `runbook-figures`: the faults docs/RUNBOOK.md was tried on, one after the other,
 * against the production build (dist/main.js) with a redis-server and the emulator driven over
 * its control API. Powens failing (connections.list 503 twenty times, token.access 500 once),
 * Powens slow (connections.list 2.5 s six times), a refused callback while Powens refuses to
 * delete users, webhooks signed with the wrong secret, one user over its rate limit, a webhook
 * accepted just before Redis is killed (then restarted), and Redis paused three times.
 *
 * /metrics is saved after each fault and the service's log at the end, in `--out <dir>` (else a
 * temporary folder, printed): the runbook's figures are differences between those scrapes, and
 * its `jq` searches run on that log. `--long` then scrapes once a minute for 11 minutes, as long
 * as the refused callback's deletion is retried, until the service gives it up. Loopback only,
 * about a minute (12 with `--long`). `node build/bench/faults/runbook-figures.js` runs it (after
 * `npm run build` and `tsc -p bench/tsconfig.json`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { completeWebview, startEmulator, type WebviewAction } from '../../emulator/index.js';
import { freePort, portOpen } from '../../test/helpers/ports.js';
import { runIfMain } from './standalone.js';
import type { FaultScenario } from './types.js';

// Compiled to build/bench/faults/: the repository is three folders up, the service is dist/.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** fetch with a cookie jar and the identity header a trusted proxy would set. */
class Browser {
  cookies = new Map<string, string>();
  constructor(
    private readonly base: string,
    private readonly userId: string,
  ) {}

  async get(path: string): Promise<{ status: number; location: string | undefined }> {
    const url = new URL(path, this.base).href;
    const headers: Record<string, string> = { 'x-user-id': this.userId, 'x-csrf': '1' };
    if (this.cookies.size > 0 && url.startsWith(this.base)) headers['cookie'] = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    await res.arrayBuffer();
    return { status: res.status, location: res.headers.get('location') ?? undefined };
  }

  /** /connect, the webview, /callback: the callback's status. */
  async link(action: WebviewAction = { kind: 'connect' }): Promise<number> {
    const start = await this.get('/connect');
    if (start.status !== 302 || start.location === undefined) throw new Error(`/connect answered ${start.status}`);
    const back = await completeWebview(start.location, action);
    return (await this.get(back.href)).status;
  }
}

function counts(statuses: number[]): string {
  const by = new Map<number, number>();
  for (const s of statuses) by.set(s, (by.get(s) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n}x${s}`).join(' ');
}

export const scenario: FaultScenario = {
  name: 'runbook-figures',
  describe: "the faults of docs/RUNBOOK.md's 'seen when tried': /metrics after each, and the log",
  async run(ctx) {
    const args = process.argv.slice(2);
    const outArg = args.indexOf('--out');
    const out = (outArg === -1 ? undefined : args[outArg + 1]) ?? mkdtempSync(join(tmpdir(), 'bff-runbook-'));
    const long = args.includes('--long');
    mkdirSync(out, { recursive: true });
    ctx.log(`scrapes and log in ${out}`);

    const redisPort = await freePort();
    const redisDir = mkdtempSync(join(tmpdir(), 'bff-runbook-redis-'));
    let redis: ChildProcess | undefined;
    const startRedis = async (): Promise<void> => {
      redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], {
        stdio: 'ignore',
      });
      await until(() => portOpen(redisPort), 5000, 'redis-server');
    };
    const clientId = 'runbook-client';
    const clientSecret = `runbook-secret-${randomBytes(8).toString('hex')}`;
    const emulator = await startEmulator({ controlPort: 0, clients: [{ clientId, clientSecret, redirectUris: ['http://127.0.0.1:*'] }] });
    const control = async (path: string, body: Record<string, unknown>): Promise<{ status?: number }> => {
      const res = await fetch(`${emulator.controlUrl ?? emulator.url}/__emulator${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`control ${path}: ${res.status} ${text}`);
      return text === '' ? {} : (JSON.parse(text) as { status?: number });
    };
    let service: ChildProcess | undefined;
    try {
      await startRedis();
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const webhookSecret = `runbook-webhook-${randomBytes(12).toString('hex')}`;
      const metricsToken = `runbook-metrics-${randomBytes(12).toString('hex')}`;
      const logFile = createWriteStream(join(out, 'service.log'));
      service = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
        cwd: out,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          NODE_ENV: 'development',
          PORT: String(port),
          HOST: '127.0.0.1',
          PUBLIC_URL: base,
          POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
          POWENS_CLIENT_ID: clientId,
          POWENS_CLIENT_SECRET: clientSecret,
          POWENS_API_URL: emulator.apiUrl,
          POWENS_WEBVIEW_URL: emulator.webviewUrl,
          REDIS_URL: `redis://127.0.0.1:${redisPort}`,
          SESSION_SECRET: `runbook-session-${randomBytes(16).toString('hex')}`,
          TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
          AUTH_MODE: 'header',
          TRUST_PROXY: 'loopback',
          WEBHOOK_HMAC_SECRET: webhookSecret,
          CONNECTIONS_CACHE_TTL_SECONDS: '0',
          RATE_LIMIT_PER_IP: '2000',
          METRICS_TOKEN: metricsToken,
          LOG_LEVEL: 'info',
        },
      });
      service.stdout?.pipe(logFile);
      const ready = async (): Promise<boolean> => (await fetch(`${base}/readyz`)).status === 200;
      await until(ready, 15_000, 'the service to be ready');

      let step = 0;
      const scrape = async (name: string): Promise<void> => {
        const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
        step += 1;
        writeFileSync(join(out, `${String(step).padStart(2, '0')}-${name}.prom`), await res.text());
      };
      const figures: Record<string, number | string> = {};

      const alice = new Browser(base, 'alice@example.com');
      const bob = new Browser(base, 'bob-42');
      for (const b of [alice, bob]) {
        await b.link();
        for (let i = 0; i < 3; i++) await b.get('/me/connections');
      }
      await scrape('baseline');

      await control('/fail', { endpoint: 'connections.list', status: 503, times: 20 });
      const lists: number[] = [];
      for (let i = 0; i < 8; i++) lists.push((await alice.get('/me/connections')).status);
      figures['lists while Powens fails'] = counts(lists);
      await control('/fail', { endpoint: 'token.access', status: 500, times: 1 });
      figures['callback while token.access fails'] = await new Browser(base, 'carol').link();
      await sleep(2500);
      await scrape('powens-failing');

      await control('/delay', { endpoint: 'connections.list', ms: 2500, times: 6 });
      const slow: number[] = [];
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        await bob.get('/me/connections');
        slow.push(Math.round(performance.now() - t0));
      }
      figures['slow lists (ms)'] = slow.join(' ');
      await scrape('powens-slow');

      // The flow's user is not the one signed in at the callback, while Powens refuses deletions.
      await control('/fail', { endpoint: 'users.delete', status: 500 });
      const dave = new Browser(base, 'dave');
      const start = await dave.get('/connect');
      const back = await completeWebview(start.location ?? '', { kind: 'connect' });
      const mallory = new Browser(base, 'mallory');
      mallory.cookies = dave.cookies;
      figures['refused callback'] = (await mallory.get(back.href)).status;
      figures['cancelled callback'] = await new Browser(base, 'erin').link({ kind: 'cancel' });
      await sleep(3000);
      await scrape('refused-callback');

      const wrong: number[] = [];
      for (let i = 0; i < 3; i++)
        wrong.push(
          (await control('/webhooks/send', { event: 'CONNECTION_SYNCED', base, connectionId: 1, hmacSecret: 'not-the-secret-0123456789' })).status ?? 0,
        );
      figures['webhooks, wrong secret'] = counts(wrong);
      await scrape('webhooks-bad-signature');

      const eve = new Browser(base, 'eve');
      const limited: number[] = [];
      for (let i = 0; i < 80; i++) limited.push((await eve.get('/me/connections')).status);
      figures['80 lists of one user'] = counts(limited);
      await scrape('rate-limited');

      figures['webhook before Redis dies'] =
        (await control('/webhooks/send', { event: 'CONNECTION_SYNCED', base, connectionId: 1, hmacSecret: webhookSecret })).status ?? 0;
      redis?.kill('SIGKILL');
      await sleep(1500);
      const down: string[] = [];
      for (const path of ['/readyz', '/healthz', '/me/connections', '/connect']) down.push(`${path} ${(await alice.get(path)).status}`);
      figures['Redis killed'] = down.join(', ');
      await sleep(2000);
      await scrape('redis-stopped');
      await startRedis();
      await until(ready, 15_000, 'the service to be ready again');
      await scrape('redis-back');

      const probes: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (const signal of ['SIGSTOP', 'SIGCONT'] as const) {
          redis?.kill(signal);
          for (let j = 0; j < 4; j++) {
            probes.push((await fetch(`${base}/readyz`)).status);
            await sleep(500);
          }
        }
      }
      figures['/readyz, Redis paused 2 s x3'] = probes.join(' ');
      await scrape('readiness-flapping');

      if (long) {
        for (let minute = 1; minute <= 11; minute++) {
          await sleep(60_000);
          await scrape(`tail-${minute}m`);
        }
      }
      return figures;
    } finally {
      service?.kill('SIGTERM');
      if (service !== undefined && service.exitCode === null) await new Promise((resolve) => service?.once('exit', resolve));
      redis?.kill('SIGCONT');
      redis?.kill('SIGTERM');
      await emulator.close();
      rmSync(redisDir, { recursive: true, force: true });
    }
  },
};

runIfMain(import.meta.url, scenario);
