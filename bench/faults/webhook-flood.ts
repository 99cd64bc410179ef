/**
 * Fault scenario `webhook-flood`: unauthenticated senders try to make the service buffer webhook
 * bodies. 300 concurrent senders keep posting bogus 10 MB gzip deliveries to one service
 * process (the production build, started as the image starts it), each with a well-formed but
 * forged `BI-Signature` and a fresh `BI-Signature-Date`, so that nothing in the headers gives
 * them away and the service has to read them. Two waves: gzip bombs (10 MB of gzip that would
 * inflate to gigabytes) and incompressible gzip (10 MB that inflates to just under the limit,
 * the most a body may make the service hold). The per-IP webhook limit is off: every sender here
 * is 127.0.0.1, and a flood from many addresses would not meet it; what bounds memory is
 * WEBHOOK_MAX_BODIES_IN_FLIGHT (default 8) times WEBHOOK_BODY_LIMIT_BYTES.
 *
 * Figures: the service's peak RSS (VmHWM) before and after, /healthz latency while the flood
 * lasts (one probe at a time, every 20 ms), and the answers the senders got. Loopback only,
 * about 40 seconds. `node build/bench/faults/webhook-flood.js` runs it alone (after
 * `npm run build` and `tsc -p bench/tsconfig.json`); `npm run faults` runs it with the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { freePort, peakRss, startRedis } from '../processes.js';
import { percentile } from '../stats.js';
import { runIfMain } from './standalone.js';
import type { FaultScenario } from './types.js';

// Compiled to build/bench/faults/: the repository is three folders up, the service is dist/.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST = join(ROOT, 'dist');

const SENDERS = 300;
const WAVE_MS = 15_000;
const BODY_BYTES = 10 * 1024 * 1024;
const MB = 1024 * 1024;

/** 10 MB of gzip members, each 1 MB of spaces: inflates to about 10 GB. */
function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(MB, 0x20), { level: 9 });
  const count = Math.floor(BODY_BYTES / member.length);
  return Buffer.concat(Array.from({ length: count }, () => member));
}

/** Random bytes, gzipped: about as large inflated as on the wire, under the 10 MiB limit both ways. */
function incompressible(): Buffer {
  return gzipSync(randomBytes(10_000_000), { level: 1 });
}

type Answer = string;

/** One delivery on its own connection: the status line's code, or `reset` when none came back. */
function deliverOnce(port: number, body: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    const requestHead = [
      'POST /webhooks/powens/CONNECTION_SYNCED HTTP/1.1',
      'host: 127.0.0.1',
      'content-type: application/json',
      'content-encoding: gzip',
      `content-length: ${body.length}`,
      `bi-signature: ${randomBytes(32).toString('base64')}`,
      `bi-signature-date: ${new Date().toISOString()}`,
      'connection: close',
      '',
      '',
    ].join('\r\n');
    socket.on('connect', () => {
      socket.write(requestHead);
      socket.write(body);
    });
    socket.on('data', (d: Buffer) => {
      if (head.length < 16) head += d.toString('latin1', 0, 16);
    });
    socket.on('error', () => undefined);
    socket.setTimeout(60_000, () => socket.destroy());
    socket.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 'reset'));
  });
}

/**
 * /healthz probed from a process of its own, one request at a time every 20 ms, so that the
 * senders' busy event loop does not count as the service's latency. Prints the latencies (ms)
 * as JSON when told to stop.
 */
const PROBER = `
const url = process.argv[1];
const times = [];
let failures = 0;
let stop = false;
process.on('SIGTERM', () => { stop = true; });
while (!stop) {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
    await res.arrayBuffer();
    if (res.status === 200) times.push(performance.now() - started); else failures += 1;
  } catch { failures += 1; }
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(JSON.stringify({ times, failures }));
`;

interface Probe {
  times: number[];
  failures: number;
}

function startProber(url: string): { stop(): Promise<Probe> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBER, url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const probe = JSON.parse(out || '{"times":[],"failures":0}') as Probe;
      probe.times.sort((a, b) => a - b);
      return probe;
    },
  };
}

interface Wave {
  answers: Map<Answer, number>;
  probe: Probe;
}

async function wave(port: number, body: Buffer, ms: number): Promise<Wave> {
  const answers = new Map<Answer, number>();
  const end = Date.now() + ms;
  const prober = startProber(`http://127.0.0.1:${port}/healthz`);
  const sender = async (): Promise<void> => {
    while (Date.now() < end) {
      const a = await deliverOnce(port, body);
      answers.set(a, (answers.get(a) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  return { answers, probe: await prober.stop() };
}

/** The service as the image starts it, its log written to a file (as a container's log driver would take it). */
async function startService(env: Record<string, string>, logFile: string): Promise<{ proc: ChildProcess; pid: number; stop(): Promise<void> }> {
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, ['--max-semi-space-size=8', join(DIST, 'main.js')], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error('the service did not start');
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${env['PORT'] ?? ''}/healthz`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the service exited with ${proc.exitCode}:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`the service did not answer ${url}:\n${readFileSync(logFile, 'utf8').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    pid: proc.pid,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

const summary = (answers: Map<Answer, number>): string =>
  [...answers]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([a, n]) => `${a}:${n}`)
    .join(' ');

export const scenario: FaultScenario = {
  name: 'webhook-flood',
  describe: `${SENDERS} concurrent bogus 10 MB gzip webhook deliveries (forged, well-formed signatures), bombs then incompressible; service peak RSS and /healthz`,
  async run(ctx) {
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'bff-webhook-flood-'));
    let service: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const port = await freePort();
      service = await startService(
        {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          PORT: String(port),
          HOST: '127.0.0.1',
          PUBLIC_URL: `http://127.0.0.1:${port}`,
          POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
          POWENS_CLIENT_ID: 'flood-client',
          POWENS_CLIENT_SECRET: randomBytes(24).toString('base64url'),
          // Never called: a webhook that got this far would be refused first.
          POWENS_API_URL: 'http://127.0.0.1:9/2.0',
          POWENS_WEBVIEW_URL: 'http://127.0.0.1:9',
          REDIS_URL: redis.url,
          SESSION_SECRET: randomBytes(32).toString('base64url'),
          TOKEN_ENCRYPTION_KEYS: `flood:${randomBytes(32).toString('base64')}`,
          AUTH_MODE: 'header',
          // Required with header mode; no request here carries the identity header.
          TRUST_PROXY: 'loopback',
          WEBHOOK_HMAC_SECRET: randomBytes(24).toString('base64url'),
          RATE_LIMIT_WEBHOOK_PER_IP: '0',
          LOG_LEVEL: 'warn',
        },
        join(dir, 'service.log'),
      );
      const before = peakRss(service.pid) ?? NaN;
      ctx.log(`service up, peak RSS so far ${(before / MB).toFixed(0)} MB; building bodies`);

      const bomb = gzipBomb();
      const plain = incompressible();
      ctx.log(`bombs: ${(bomb.length / MB).toFixed(1)} MB of gzip each; incompressible: ${(plain.length / MB).toFixed(1)} MB`);

      const first = await wave(port, bomb, WAVE_MS);
      ctx.log(`bombs: ${summary(first.answers)}; /healthz p99 ${percentile(first.probe.times, 99).toFixed(1)} ms, failures ${first.probe.failures}`);
      const afterBombs = peakRss(service.pid) ?? NaN;
      const second = await wave(port, plain, WAVE_MS);
      ctx.log(
        `incompressible: ${summary(second.answers)}; /healthz p99 ${percentile(second.probe.times, 99).toFixed(1)} ms, failures ${second.probe.failures}`,
      );
      const peak = peakRss(service.pid) ?? NaN;
      const alive = service.proc.exitCode === null;
      const healthz = [...first.probe.times, ...second.probe.times].sort((a, b) => a - b);
      return {
        'peak RSS before (MB)': Math.round(before / MB),
        'peak RSS after bombs (MB)': Math.round(afterBombs / MB),
        'peak RSS (MB)': Math.round(peak / MB),
        'peak RSS under 300 MB': peak < 300 * MB ? 'yes' : 'NO',
        'healthz probes': healthz.length,
        'healthz failures': first.probe.failures + second.probe.failures,
        'healthz p50 (ms)': Number(percentile(healthz, 50).toFixed(1)),
        'healthz p99 (ms)': Number(percentile(healthz, 99).toFixed(1)),
        'healthz max (ms)': Number((healthz[healthz.length - 1] ?? NaN).toFixed(1)),
        'bomb answers': summary(first.answers),
        'incompressible answers': summary(second.answers),
        'service alive': alive ? 'yes' : 'NO',
      };
    } finally {
      await service?.stop();
      await redis.child.stop();
      redis.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

runIfMain(import.meta.url, scenario);
