/**
 * `npm run bench` (README, "Performance"): every process on 127.0.0.1, each in its own process
 * (redis-server, the Powens emulator, the service, the bare Express baseline), autocannon in
 * this one. Prints a table and writes bench/results.json. Figures, not assertions: the targets
 * (README, "Performance") are reported as met or missed, and the run never fails because of them.
 *
 * Options (after `npm run bench --`): --duration <s> (10), --connections <n> (50),
 * --callback-flows <n> (4000), --soak <n> (100000), --only <names> (comma-separated among
 * healthz, connect, callback, me-cached, me-uncached, soak, components; the baseline always runs;
 * components compares each hand-written component with the library call it replaced, see
 * components.ts),
 * --profile (the service writes a CPU profile to bench/profiles and a summary is printed),
 * --save (write the figures: a complete run without --profile to bench/results.json, the
 * committed figures of the README; any other run to bench/results-partial.json, git-ignored).
 * Without --save nothing is written: a quick run never replaces the committed figures.
 */
import autocannon from 'autocannon';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { completeWebview } from '../emulator/index.js';
import { cpuMicros, heapAfterGc, freePort, machineBusyMicros, peakRss, serviceEnv, startChild, startRedis, waitForHttp, type Child } from './processes.js';
import { profilesDir, summarizeProfiles } from './profile.js';
import { runComponents, type ComponentFigure } from './components.js';

// Run from build/bench/run.js (bench/tsconfig.json): the repository is two folders up, the
// emulator and the bench's own helpers are built next to it, the service is the production
// build in dist/ (`npm run build`), the very files the image runs.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');

/**
 * The V8 flags the container runs the service with (Dockerfile CMD). A young generation of
 * 8 MB semi-spaces instead of 16: peak RSS about 25 MB lower under load, CPU per request within
 * the noise on /healthz and /connect, a few percent more on the cached list (more scavenges).
 */
const SERVICE_NODE_FLAGS = ['--max-semi-space-size=8'];

const SCENARIOS = ['healthz', 'connect', 'callback', 'me-cached', 'me-uncached', 'soak', 'components'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

interface Options {
  duration: number;
  connections: number;
  callbackFlows: number;
  soak: number;
  only: Set<ScenarioName>;
  profile: boolean;
  save: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      'callback-flows': { type: 'string', default: '4000' },
      soak: { type: 'string', default: '100000' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      save: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number of at least ${min}`);
    return n;
  };
  const only = new Set<ScenarioName>();
  for (const name of (values.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim())) {
    if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`--only: unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);
    only.add(name as ScenarioName);
  }
  return {
    duration: int('duration', values.duration, 1),
    connections: int('connections', values.connections, 1),
    callbackFlows: int('callback-flows', values['callback-flows'], 10),
    soak: int('soak', values.soak, 20_000),
    only,
    profile: values.profile,
    save: values.save,
  };
}

interface Figures {
  name: string;
  route: string;
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  ratio: number | null;
  /**
   * The baseline's req/s measured right before and right after this scenario (half its duration
   * each), and their mean, which the ratio is taken against. On a shared virtual machine the
   * speed drifts by tens of percent within minutes; a baseline measured once, minutes earlier,
   * would make the ratio a figure of the drift rather than of the route.
   */
  adjacentBaselineRps: { before: number; after: number; mean: number } | null;
  expectedStatus: number[];
  /** Connection errors, timeouts and answers with another status than expected. */
  errors: number;
  /** CPU time the measured server spent per request (independent of other load on the machine). */
  cpuUsPerRequest: number | null;
  /** Work of processes other than the benchmark's during the scenario, in CPUs (0.5: half a core). */
  otherLoadCpus: number | null;
  /** The measured server's peak RSS so far, after this scenario: which one raised the high-water mark. */
  peakRssBytes: number | null;
  statuses: Record<string, number>;
  loadBefore: number[];
}

type Request = autocannon.Request;

interface Run {
  name: string;
  route: string;
  url: string;
  expectedStatus: number[];
  connections: number;
  duration?: number;
  amount?: number;
  requests?: Request[];
  /** The process whose CPU time per request is reported. */
  pid?: number;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The benchmark's own processes, so that their CPU time is told apart from the machine's. */
const benchChildren: Child[] = [];

function benchCpuMicros(): number {
  const own = process.cpuUsage();
  return own.user + own.system + benchChildren.reduce((sum, c) => sum + (cpuMicros(c.pid) ?? 0), 0);
}

async function cannon(run: Run): Promise<Figures> {
  const loadBefore = os.loadavg().map((l) => round(l, 2));
  const cpuBefore = run.pid === undefined ? undefined : cpuMicros(run.pid);
  const machineBefore = machineBusyMicros();
  const oursBefore = benchCpuMicros();
  const result = await autocannon({
    url: run.url,
    connections: run.connections,
    pipelining: 1,
    timeout: 10,
    ...(run.amount !== undefined ? { amount: run.amount } : { duration: run.duration ?? 10 }),
    ...(run.requests !== undefined ? { requests: run.requests } : {}),
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
  const expected = run.expectedStatus.reduce((sum, code) => sum + (statuses[String(code)] ?? 0), 0);
  const requests = (result.latency as { totalCount?: number }).totalCount ?? answered;
  const cpuAfter = run.pid === undefined ? undefined : cpuMicros(run.pid);
  const machineAfter = machineBusyMicros();
  const others =
    machineBefore === undefined || machineAfter === undefined
      ? null
      : round(Math.max(0, machineAfter - machineBefore - (benchCpuMicros() - oursBefore)) / (result.duration * 1e6), 2);
  const cpuUsPerRequest = cpuBefore === undefined || cpuAfter === undefined || requests === 0 ? null : round((cpuAfter - cpuBefore) / requests, 0);
  return {
    name: run.name,
    route: run.route,
    requests,
    seconds: round(result.duration, 2),
    rps: round(requests / result.duration, 0),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    ratio: null,
    adjacentBaselineRps: null,
    expectedStatus: run.expectedStatus,
    errors: result.errors + (answered - expected),
    cpuUsPerRequest,
    otherLoadCpus: others,
    peakRssBytes: run.pid === undefined ? null : (peakRss(run.pid) ?? null),
    statuses,
    loadBefore,
  };
}

/** Requests that each carry the next value of `make` (a distinct user, a distinct callback...). */
function rotating(make: (n: number) => Request): Request[] {
  let n = 0;
  return [{ setupRequest: (req: Request) => ({ ...req, ...make(n++) }) }];
}

async function inParallel<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) out[i] = await task(i);
    }),
  );
  return out;
}

interface PreparedCallback {
  userId: string;
  path: string;
  cookie: string;
}

/** Real flows: /connect, then the webview played by the emulator's driver; the callback is kept unused. */
async function prepareCallback(base: string, userId: string): Promise<PreparedCallback> {
  const res = await fetch(`${base}/connect`, { headers: { 'x-user-id': userId }, redirect: 'manual' });
  await res.arrayBuffer();
  const location = res.headers.get('location');
  if (res.status !== 302 || location === null) throw new Error(`/connect answered ${res.status}`);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .join('; ');
  const back = await completeWebview(location, { kind: 'connect' });
  return { userId, path: `${back.pathname}${back.search}`, cookie };
}

async function metricValue(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function mb(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${round(bytes / 1024 / 1024, 1)} MB`;
}

async function main(): Promise<void> {
  const opts = options();
  const startedAt = new Date();
  const loadStart = os.loadavg().map((l) => round(l, 2));
  const children = benchChildren;
  const cleanups: (() => void)[] = [];
  const profileDir = profilesDir(startedAt);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  try {
    const redis = await startRedis();
    children.push(redis.child);
    cleanups.push(() => redis.cleanup());
    const [emulatorPort, portA, portB, helloPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const clientSecret = randomBytes(24).toString('base64url');
    const PATH = process.env['PATH'] ?? '/usr/bin:/bin';
    const tokenKeys = `bench:${randomBytes(32).toString('base64')}`;

    const emulator = startChild('emulator', process.execPath, [join(BUILD, 'emulator', 'main.js')], {
      PATH,
      EMULATOR_PORT: String(emulatorPort),
      EMULATOR_HOST: '127.0.0.1',
      EMULATOR_CLIENT_ID: 'bench-client',
      EMULATOR_CLIENT_SECRET: clientSecret,
      EMULATOR_REDIRECT_URIS: `http://127.0.0.1:${portA}/callback,http://127.0.0.1:${portB}/callback`,
    });
    children.push(emulator);
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;

    // Both services share the token key: they share one Redis.
    const env = (port: number, extra: Record<string, string>): Record<string, string> =>
      serviceEnv(
        { port, redisUrl: redis.url, apiUrl: `${emulatorUrl}/2.0`, webviewUrl: emulatorUrl, clientId: 'bench-client', clientSecret },
        { TOKEN_ENCRYPTION_KEYS: tokenKeys, ...extra },
      );
    const nodeArgs = (profileAs: string): string[] => [
      // The service's own V8 flags, as the Dockerfile's CMD starts it: keep the two in step.
      ...SERVICE_NODE_FLAGS,
      '--expose-gc',
      '--import',
      pathToFileURL(join(BUILD, 'bench', 'probe.js')).href,
      ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, profileAs)}`] : []),
      join(DIST, 'main.js'),
    ];
    const serviceA = startChild('service', process.execPath, nodeArgs('service'), env(portA, {}));
    children.push(serviceA);
    const serviceB = startChild('service (cache off)', process.execPath, nodeArgs('service-cache-off'), env(portB, { CONNECTIONS_CACHE_TTL_SECONDS: '0' }));
    children.push(serviceB);
    const hello = startChild('baseline', process.execPath, [join(BUILD, 'bench', 'hello.js'), String(helloPort)], { PATH });
    children.push(hello);

    const a = `http://127.0.0.1:${portA}`;
    const b = `http://127.0.0.1:${portB}`;
    const helloUrl = `http://127.0.0.1:${helloPort}`;
    await Promise.all([
      waitForHttp(emulator, `${emulatorUrl}/__emulator/info`),
      waitForHttp(serviceA, `${a}/readyz`),
      waitForHttp(serviceB, `${b}/readyz`),
      waitForHttp(hello, `${helloUrl}/`),
    ]);

    const c = opts.connections;
    const d = opts.duration;
    const warm = Math.max(1, Math.min(2, Math.floor(d / 5)));
    const figures: Figures[] = [];
    const helloRun: Run = {
      name: 'baseline',
      route: 'GET / (bare Express 5)',
      url: `${helloUrl}/`,
      expectedStatus: [200],
      connections: c,
      duration: d,
      pid: hello.pid,
    };
    const baselineSlice = async (): Promise<number> => (await cannon({ ...helloRun, duration: Math.max(1, Math.round(d / 2)) })).rps;
    const measure = async (run: Run, warmUp = true): Promise<Figures> => {
      if (warmUp) await cannon({ ...run, duration: warm, amount: undefined });
      log(`  ${run.name} ...`);
      const before = run.name === 'baseline' ? undefined : await baselineSlice();
      const f = await cannon(run);
      if (before !== undefined) {
        const after = await baselineSlice();
        f.adjacentBaselineRps = { before, after, mean: round((before + after) / 2, 0) };
      }
      figures.push(f);
      return f;
    };

    log(`powens-connect-bff benchmark: ${c} connections, ${d} s per scenario, node ${process.version}, ${os.cpus().length} CPUs`);
    await measure(helloRun);

    if (opts.only.has('healthz')) {
      await measure({ name: 'healthz', route: 'GET /healthz', url: `${a}/healthz`, expectedStatus: [200], connections: c, duration: d, pid: serviceA.pid });
    }
    if (opts.only.has('connect')) {
      const tag = randomBytes(3).toString('hex');
      await measure({
        name: 'connect',
        route: 'GET /connect (signed-in, no token)',
        url: `${a}/connect`,
        pid: serviceA.pid,
        expectedStatus: [302],
        connections: c,
        duration: d,
        requests: rotating((n) => ({ method: 'GET', path: '/connect', headers: { 'x-user-id': `bench-connect-${tag}-${n}` } })),
      });
    }

    const needUsers = opts.only.has('callback') || opts.only.has('me-cached') || opts.only.has('me-uncached') || opts.only.has('soak');
    let users: string[] = [];
    if (needUsers) {
      const spare = 2 * c;
      log(`  preparing ${opts.callbackFlows} flows up to the callback ...`);
      const prepared = await inParallel(opts.callbackFlows + spare, 32, (i) => prepareCallback(a, `bench-user-${i}`));
      users = prepared.slice(0, opts.callbackFlows).map((p) => p.userId);
      if (opts.only.has('callback')) {
        let n = 0;
        await measure(
          {
            name: 'callback',
            route: 'GET /callback (code exchange with the emulator)',
            url: `${a}/callback`,
            pid: serviceA.pid,
            expectedStatus: [303],
            connections: c,
            amount: opts.callbackFlows,
            requests: [
              {
                setupRequest: (req: Request) => {
                  const p = prepared[n++];
                  return p === undefined ? req : { ...req, method: 'GET', path: p.path, headers: { cookie: p.cookie, 'x-user-id': p.userId } };
                },
              },
            ],
          },
          false,
        );
      } else {
        // The other scenarios need linked users all the same.
        await inParallel(opts.callbackFlows, 32, async (i) => {
          const p = prepared[i] as PreparedCallback;
          await (await fetch(`${a}${p.path}`, { headers: { cookie: p.cookie, 'x-user-id': p.userId }, redirect: 'manual' })).arrayBuffer();
        });
      }
    }
    const meRequests = (): Request[] =>
      rotating((n) => ({ method: 'GET', path: '/me/connections', headers: { 'x-user-id': users[n % users.length] ?? 'nobody' } }));

    if (opts.only.has('me-cached')) {
      // Every user's list is cached before the measurement (TTL 60 s > the scenario).
      await inParallel(users.length, c, async (i) => {
        await (await fetch(`${a}/me/connections`, { headers: { 'x-user-id': users[i] ?? '' } })).arrayBuffer();
      });
      await measure({
        name: 'me-cached',
        route: 'GET /me/connections (cached)',
        url: `${a}/me/connections`,
        expectedStatus: [200],
        connections: c,
        duration: d,
        requests: meRequests(),
        pid: serviceA.pid,
      });
    }
    if (opts.only.has('me-uncached')) {
      await measure({
        name: 'me-uncached',
        route: 'GET /me/connections (cache off: Powens each time)',
        url: `${b}/me/connections`,
        pid: serviceB.pid,
        expectedStatus: [200],
        connections: c,
        duration: d,
        requests: meRequests(),
      });
    }

    let heap: Record<string, unknown> | undefined;
    if (opts.only.has('soak')) {
      log(`  soak: ${opts.soak} requests (/me/connections, /healthz, /connect in turn) ...`);
      const tag = randomBytes(3).toString('hex');
      let n = 0;
      const mix = (): Request[] => [
        {
          method: 'GET',
          path: '/me/connections',
          setupRequest: (req: Request) => ({ ...req, headers: { 'x-user-id': users[n++ % users.length] ?? 'nobody' } }),
        },
        { method: 'GET', path: '/healthz' },
        { method: 'GET', path: '/connect', setupRequest: (req: Request) => ({ ...req, headers: { 'x-user-id': `bench-soak-${tag}-${n++}` } }) },
      ];
      const first = Math.round(opts.soak / 10);
      const soak1 = await cannon({ name: 'soak-1', route: 'mix', url: a, expectedStatus: [200, 302], connections: c, amount: first, requests: mix() });
      await pause(1000);
      const after10k = await heapAfterGc(serviceA);
      const metric10k = await metricValue(a, 'nodejs_heap_size_used_bytes');
      const soak2 = await cannon({
        name: 'soak-2',
        route: 'mix',
        url: a,
        expectedStatus: [200, 302],
        connections: c,
        amount: opts.soak - first,
        requests: mix(),
      });
      await pause(1000);
      const after100k = await heapAfterGc(serviceA);
      const metric100k = await metricValue(a, 'nodejs_heap_size_used_bytes');
      heap = {
        requestsFirst: first,
        requestsTotal: opts.soak,
        heapUsedAfterFirst: after10k.heapUsed,
        heapUsedAfterTotal: after100k.heapUsed,
        growth: round(after100k.heapUsed / after10k.heapUsed - 1, 4),
        forcedGc: after10k.collected && after100k.collected,
        metricHeapUsedAfterFirst: metric10k,
        metricHeapUsedAfterTotal: metric100k,
        soakErrors: soak1.errors + soak2.errors,
        soakRps: [soak1.rps, soak2.rps],
      };
    }

    let components: ComponentFigure[] | null = null;
    if (opts.only.has('components')) {
      const routeUs = (name: string): number | null => figures.find((f) => f.name === name)?.cpuUsPerRequest ?? null;
      components = await runComponents({
        build: BUILD,
        connections: c,
        seconds: Math.max(1, Math.round(d / 3)),
        rounds: 3,
        routeUs: { healthz: routeUs('healthz'), connect: routeUs('connect'), 'me-cached': routeUs('me-cached') },
        log,
      });
    }

    const rss = {
      service: peakRss(serviceA.pid),
      serviceCacheOff: peakRss(serviceB.pid),
      emulator: peakRss(emulator.pid),
      baseline: peakRss(hello.pid),
    };
    for (const f of figures) f.ratio = f.adjacentBaselineRps === null ? 1 : round(f.rps / f.adjacentBaselineRps.mean, 2);

    const byName = (name: string): Figures | undefined => figures.find((f) => f.name === name);
    const targets: { name: string; figure: string; target: string; met: boolean }[] = [];
    const ratioTarget = (name: string, min: number): void => {
      const f = byName(name);
      if (f?.ratio !== null && f?.ratio !== undefined)
        targets.push({ name: `${name} vs baseline`, figure: `${f.ratio}`, target: `>= ${min}`, met: f.ratio >= min });
    };
    ratioTarget('me-cached', 0.6);
    ratioTarget('connect', 0.45);
    ratioTarget('healthz', 0.85);
    for (const f of figures) {
      if (f.name === 'baseline') continue;
      targets.push({ name: `${f.name} p99`, figure: `${f.p99Ms} ms`, target: '< 50 ms', met: f.p99Ms < 50 });
      targets.push({ name: `${f.name} errors`, figure: String(f.errors), target: '0', met: f.errors === 0 });
    }
    if (rss.service !== undefined)
      targets.push({ name: 'service peak RSS', figure: mb(rss.service), target: '< 200 MB', met: rss.service < 200 * 1024 * 1024 });
    if (heap !== undefined && typeof heap['growth'] === 'number') {
      targets.push({ name: 'heap growth 10k -> 100k', figure: `${round(heap['growth'] * 100, 1)} %`, target: '<= 10 %', met: heap['growth'] <= 0.1 });
    }

    log('');
    log(
      '| scenario | req/s | p50 ms | p99 ms | baseline req/s (before/after) | x baseline | errors | server CPU µs/req | server peak RSS so far | other load (CPUs) |',
    );
    log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const f of figures) {
      const adjacent = f.adjacentBaselineRps === null ? '' : `${f.adjacentBaselineRps.before} / ${f.adjacentBaselineRps.after}`;
      const cells = [
        f.route,
        f.rps,
        f.p50Ms,
        f.p99Ms,
        adjacent,
        f.ratio ?? '',
        f.errors,
        f.cpuUsPerRequest ?? 'n/a',
        f.peakRssBytes === null ? 'n/a' : mb(f.peakRssBytes),
        f.otherLoadCpus ?? 'n/a',
      ];
      log(`| ${cells.join(' | ')} |`);
    }
    log('');
    log(`peak RSS: service ${mb(rss.service)}, service (cache off) ${mb(rss.serviceCacheOff)}, emulator ${mb(rss.emulator)}, baseline ${mb(rss.baseline)}`);
    if (heap !== undefined) {
      log(
        `heap used after a full GC: ${mb(heap['heapUsedAfterFirst'] as number)} after ${heap['requestsFirst'] as number} requests, ` +
          `${mb(heap['heapUsedAfterTotal'] as number)} after ${heap['requestsTotal'] as number} (${round((heap['growth'] as number) * 100, 1)} %)`,
      );
    }
    log(
      `load average: ${loadStart.join(' ')} at the start, ${os
        .loadavg()
        .map((l) => round(l, 2))
        .join(' ')} at the end (${os.cpus().length} CPUs)`,
    );
    if (components !== null) {
      log('');
      log(
        '| hand-written component | route | ours µs/req | library µs/req | saved µs/req | route µs/req | earns on its route | >= 5 % in this run (the rule: the median of runs) |',
      );
      log('| --- | --- | ---: | ---: | ---: | ---: | ---: | :---: |');
      for (const k of components) {
        const earns = k.earnsPercent === null ? 'n/a (route not measured)' : `${k.earnsPercent} %`;
        const kept = k.earnsPercent === null ? 'n/a' : k.earnsPercent >= 5 ? 'yes' : 'NO';
        log(`| ${k.name} | ${k.route} | ${k.oursUs} | ${k.libraryUs} | ${k.savedUs} | ${k.routeUs ?? 'n/a'} | ${earns} | ${kept} |`);
      }
    }
    log('');
    log('| target | figure | wanted | met |');
    log('| --- | ---: | ---: | :---: |');
    for (const t of targets) log(`| ${t.name} | ${t.figure} | ${t.target} | ${t.met ? 'yes' : 'NO'} |`);

    const results = {
      date: startedAt.toISOString(),
      node: process.version,
      machine: {
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        memoryBytes: os.totalmem(),
        loadAverageStart: loadStart,
        loadAverageEnd: os.loadavg().map((l) => round(l, 2)),
      },
      settings: { connections: c, durationSeconds: d, callbackFlows: opts.callbackFlows, soakRequests: opts.soak, profile: opts.profile },
      scenarios: figures,
      peakRssBytes: rss,
      heap: heap ?? null,
      components,
      targets,
    };
    // Only a complete, unprofiled run stands for the service; partial runs go elsewhere.
    const complete = opts.only.size === SCENARIOS.length && !opts.profile;
    const out = join(ROOT, 'bench', complete ? 'results.json' : 'results-partial.json');
    log('');
    if (opts.save) {
      mkdirSync(join(ROOT, 'bench'), { recursive: true });
      writeFileSync(`${out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
      renameSync(`${out}.tmp`, out);
      log(`written: ${out}`);
    } else {
      log(`not written (run with --save to write ${out})`);
    }
  } finally {
    for (const child of children.reverse()) await child.stop();
    for (const cleanup of cleanups) cleanup();
  }
  if (opts.profile) {
    log(summarizeProfiles(join(profileDir, 'service')));
    if (opts.only.has('me-uncached')) log(summarizeProfiles(join(profileDir, 'service-cache-off')));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
