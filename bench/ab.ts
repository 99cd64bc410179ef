/**
 * `npm run bench:ab -- name=dir name=dir ...`: the service's CPU per request on one route, for
 * several builds of the service side by side. Each `dir` holds a build's `main.js` (this
 * checkout's `dist`, or the `dist` of another commit built in its own worktree: see
 * docs/PERFORMANCE.md, "Where /connect's time went"). Builds are run in turn, round after round
 * (A, B, C, A, B, C...), so the machine's drift hits them alike; the medians are compared.
 *
 * Where `taskset` exists, the service is pinned to CPU 0 and redis-server and the load to CPU 1:
 * the figure is then the service's own, not a share of two cores fought over. Options:
 * --route connect|healthz (connect), --rounds N (5), --amount N requests measured per run
 * (15000), --connections N (20), --profile (each service writes a CPU profile under
 * bench/profiles/ab-<time>/<name>/, and a table puts the builds' CPU per request side by side,
 * charged to each package and app file: where two builds differ, not only by how much). Each
 * run warms the build up with 3000 requests first. The service runs on the Node.js that runs
 * this script: run it with the image's Node (24) to measure what production runs.
 */
import autocannon, { type Request } from 'autocannon';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuMicros, freePort, serviceEnv, startChild, startRedis, waitForHttp, type Child } from './processes.js';
import { profilesDir, readProfiles, summarize } from './profile.js';
import { median } from './stats.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    route: { type: 'string', default: 'connect' },
    rounds: { type: 'string', default: '5' },
    amount: { type: 'string', default: '15000' },
    connections: { type: 'string', default: '20' },
    profile: { type: 'boolean', default: false },
  },
});
const route = values.route;
if (route !== 'connect' && route !== 'healthz') throw new Error('--route: connect or healthz');
const rounds = Number(values.rounds);
const amount = Number(values.amount);
const connections = Number(values.connections);
if (![rounds, amount, connections].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--rounds, --amount, --connections: positive integers');
const builds = positionals.map((arg) => {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new Error(`a build is name=dir (a directory with main.js), not ${arg}`);
  return { name: arg.slice(0, eq), dir: resolve(arg.slice(eq + 1)) };
});
if (builds.length === 0) throw new Error('usage: npm run bench:ab -- name=dir [name=dir ...] [--route connect|healthz] [--rounds 5] [--amount 15000]');

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const pinned = hasTaskset();
const pin = (pid: number, cpu: number): void => {
  if (pinned) execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
};

const redis = await startRedis();
pin(redis.child.pid, 1);
pin(process.pid, 1);
const tokenKeys = `ab:${randomBytes(32).toString('base64')}`;
const WARM_UP = 3000;
const figures = new Map<string, number[]>(builds.map((b) => [b.name, []]));

const profileRoot = profilesDir(new Date(), 'ab-');
const profileArgs = (name: string): string[] => (values.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileRoot, name)}`] : []);

async function measure(name: string, dir: string): Promise<number> {
  const port = await freePort();
  // Powens is never called on these routes (a user without a token; the liveness answer).
  const env = serviceEnv(
    {
      port,
      redisUrl: redis.url,
      apiUrl: 'http://127.0.0.1:9/2.0',
      webviewUrl: 'http://127.0.0.1:9',
      clientId: 'ab-client',
      clientSecret: randomBytes(24).toString('base64url'),
    },
    { TOKEN_ENCRYPTION_KEYS: tokenKeys },
  );
  const service: Child = startChild('service', process.execPath, ['--max-semi-space-size=8', ...profileArgs(name), join(dir, 'main.js')], env);
  try {
    pin(service.pid, 0);
    await waitForHttp(service, `http://127.0.0.1:${port}/healthz`);
    const tag = randomBytes(3).toString('hex');
    let n = 0;
    const request: Request =
      route === 'connect'
        ? { method: 'GET', path: '/connect', setupRequest: (req: Request) => ({ ...req, headers: { 'x-user-id': `ab-${tag}-${n++}` } }) }
        : { method: 'GET', path: '/healthz' };
    const run = (count: number) => autocannon({ url: `http://127.0.0.1:${port}`, connections, amount: count, requests: [request], timeout: 10 });
    await run(WARM_UP);
    const before = cpuMicros(service.pid);
    const result = await run(amount);
    const after = cpuMicros(service.pid);
    const expected = route === 'connect' ? result['3xx'] : result['2xx'];
    if (before === undefined || after === undefined) throw new Error('no CPU figure (is /proc there?)');
    if (result.errors > 0 || expected !== amount) throw new Error(`${dir}: ${result.errors} errors, ${amount - expected} unexpected answers`);
    return (after - before) / amount;
  } finally {
    await service.stop();
  }
}

try {
  out(
    `A/B of ${builds.length} builds on /${route}: ${rounds} rounds of ${amount} requests, ${connections} connections${pinned ? ', service on CPU 0, Redis and load on CPU 1' : ' (no taskset: not pinned)'}`,
  );
  for (let round = 1; round <= rounds; round++) {
    for (const build of builds) {
      const us = await measure(build.name, build.dir);
      figures.get(build.name)?.push(us);
      out(`  round ${round} ${build.name}: ${us.toFixed(0)} µs/req`);
    }
  }
  out('\n| build | median µs/req | min | all runs |\n| --- | ---: | ---: | --- |');
  for (const [name, us] of figures) out(`| ${name} | ${median(us).toFixed(0)} | ${Math.min(...us).toFixed(0)} | ${us.map((x) => x.toFixed(0)).join(', ')} |`);
  if (values.profile)
    out(
      `\n${profileTable(
        builds.map((b) => b.name),
        rounds * (amount + WARM_UP),
      )}`,
    );
} finally {
  await redis.child.stop();
  redis.cleanup();
}

/**
 * With --profile: each build's CPU profiles, warm-up and start-up included, as µs per request
 * charged to each package or app file (bench/profile.ts), side by side: where two builds differ.
 */
function profileTable(names: string[], requests: number): string {
  const perBuild = names.map((name) => {
    const totals = new Map<string, number>();
    for (const { profile } of readProfiles(join(profileRoot, name))) {
      for (const o of summarize(profile, 60).charged) totals.set(o.owner, (totals.get(o.owner) ?? 0) + o.ms);
    }
    return totals;
  });
  const owners = [...new Set(perBuild.flatMap((t) => [...t.keys()]))];
  const us = (t: Map<string, number> | undefined, owner: string): number => ((t?.get(owner) ?? 0) * 1000) / requests;
  owners.sort((a, b) => Math.max(...perBuild.map((t) => us(t, b))) - Math.max(...perBuild.map((t) => us(t, a))));
  const rows = owners.filter((o) => perBuild.some((t) => us(t, o) >= 1)).map((o) => `| ${o} | ${perBuild.map((t) => us(t, o).toFixed(1)).join(' | ')} |`);
  return [
    `CPU charged per request (µs, profiles in ${profileRoot}):`,
    `| owner | ${names.join(' | ')} |`,
    `| --- |${names.map(() => ' ---: |').join('')}`,
    ...rows,
  ].join('\n');
}
