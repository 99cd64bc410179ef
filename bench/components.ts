/**
 * Scenario `components` of `npm run bench`: what each hand-written replacement of a library call
 * earns. Each pair (ours, the library's) runs alone on a bare Express app (component-server.ts),
 * each in its own process; the server's CPU time per request is measured with autocannon,
 * alternating A, B, A, B... so that the machine's drift hits both alike, and the median of each
 * is kept. What a replacement earns on its route is the difference over the route's own CPU time
 * per request in the same run (the service's figure of that route). The rule (docs/PERFORMANCE.md):
 * a replacement stays only where it earns at least 5 % on its route. Given back to the library on
 * 2026-11-30, and judged again by every run: helmet's headers replayed (-3.7 % of /healthz, not
 * measured since), a pool of random bytes (median 4.5 % of /connect over eight runs), a bare 302
 * instead of res.redirect (median 4 %) and the cached list's text spliced into the answer instead
 * of parsed and sent with res.json (median 3.1 % of a cached list over five runs), measured
 * behind the service's request context.
 */
import autocannon from 'autocannon';
import { join } from 'node:path';
import { cpuMicros, freePort, startChild, waitForHttp, type Child } from './processes.js';
import type { Variant } from './component-server.js';
import { median } from './stats.js';

export interface ComponentPair {
  name: string;
  ours: Variant;
  library: Variant;
  /** The component-server path that exercises it. */
  path: string;
  /** The service's route whose CPU time the gain is compared with (a scenario name of the bench). */
  route: 'healthz' | 'connect' | 'me-cached';
}

export const PAIRS: ComponentPair[] = [
  { name: 'request logger (vs pino-http)', ours: 'logger-ours', library: 'logger-pino-http', path: '/healthz', route: 'healthz' },
  { name: 'random pool (vs randomBytes)', ours: 'random-pool', library: 'random-bytes', path: '/random', route: 'connect' },
  { name: 'bare 302 (vs res.redirect)', ours: 'redirect-bare', library: 'redirect-express', path: '/redirect', route: 'connect' },
  { name: 'cached list spliced as text (vs JSON.parse and res.json)', ours: 'list-spliced', library: 'list-parsed', path: '/list', route: 'me-cached' },
];

export interface ComponentFigure {
  name: string;
  route: string;
  oursUs: number;
  libraryUs: number;
  /** libraryUs - oursUs: CPU time per request the replacement saves. */
  savedUs: number;
  routeUs: number | null;
  /** savedUs over the route's CPU time per request, in percent. */
  earnsPercent: number | null;
  rounds: number;
}

async function cpuPerRequest(child: Child, url: string, connections: number, seconds: number): Promise<number> {
  const before = cpuMicros(child.pid);
  const result = await autocannon({ url, connections, pipelining: 1, duration: seconds, timeout: 10 });
  const after = cpuMicros(child.pid);
  const requests = (result.latency as { totalCount?: number }).totalCount ?? result.requests.total;
  if (before === undefined || after === undefined || requests === 0) throw new Error(`components: no CPU figure for ${url}`);
  // autocannon counts a 302 as non-2xx: the redirect pair answers nothing else.
  if (result.non2xx > 0 && !url.endsWith('/redirect')) throw new Error(`components: ${url} answered ${result.non2xx} errors`);
  return (after - before) / requests;
}

export async function runComponents(opts: {
  build: string;
  connections: number;
  /** Seconds per measurement; each variant is measured `rounds` times. */
  seconds: number;
  rounds: number;
  routeUs: Partial<Record<ComponentPair['route'], number | null>>;
  log(line: string): void;
}): Promise<ComponentFigure[]> {
  const out: ComponentFigure[] = [];
  const PATH = process.env['PATH'] ?? '/usr/bin:/bin';
  for (const pair of PAIRS) {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const start = (variant: Variant, port: number): Child =>
      startChild(variant, process.execPath, ['--max-semi-space-size=8', join(opts.build, 'bench', 'component-server.js'), variant, String(port)], { PATH });
    const a = start(pair.ours, portA);
    const b = start(pair.library, portB);
    try {
      const urlA = `http://127.0.0.1:${portA}${pair.path}`;
      const urlB = `http://127.0.0.1:${portB}${pair.path}`;
      await Promise.all([waitForHttp(a, `http://127.0.0.1:${portA}/healthz`), waitForHttp(b, `http://127.0.0.1:${portB}/healthz`)]);
      opts.log(`  components: ${pair.name} ...`);
      // Warm both (JIT) before anything counts.
      await cpuPerRequest(a, urlA, opts.connections, 1);
      await cpuPerRequest(b, urlB, opts.connections, 1);
      const ours: number[] = [];
      const library: number[] = [];
      for (let i = 0; i < opts.rounds; i++) {
        ours.push(await cpuPerRequest(a, urlA, opts.connections, opts.seconds));
        library.push(await cpuPerRequest(b, urlB, opts.connections, opts.seconds));
      }
      const oursUs = median(ours);
      const libraryUs = median(library);
      const routeUs = opts.routeUs[pair.route] ?? null;
      const savedUs = libraryUs - oursUs;
      out.push({
        name: pair.name,
        route: pair.route,
        oursUs: Math.round(oursUs * 10) / 10,
        libraryUs: Math.round(libraryUs * 10) / 10,
        savedUs: Math.round(savedUs * 10) / 10,
        routeUs,
        earnsPercent: routeUs === null || routeUs <= 0 ? null : Math.round((savedUs / routeUs) * 1000) / 10,
        rounds: opts.rounds,
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
  return out;
}
