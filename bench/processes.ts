/** The benchmark's child processes: redis-server, the emulator, the service, the baseline. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from '../test/helpers/ports.js';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The end of what the child wrote, for errors. */
  output(): string;
  /** The heap reports of probe.js, in order. */
  heapReports: HeapSample[];
  stop(): Promise<void>;
}

export { freePort };

/** What a service process is pointed at. */
export interface ServiceTargets {
  port: number;
  redisUrl: string;
  /** The emulator's API (`.../2.0`) and webview URLs, and the client it knows. */
  apiUrl: string;
  webviewUrl: string;
  clientId: string;
  clientSecret: string;
}

/**
 * The environment of a service process (dist/main.js) as the bench and the fault scenarios start
 * it: on loopback, the identity header believed from loopback (the load generator plays the proxy
 * that sets it), rate limits off, fresh secrets, `warn` logs. `extra` adds or overrides.
 */
export function serviceEnv(t: ServiceTargets, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    PORT: String(t.port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${t.port}`,
    POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
    POWENS_CLIENT_ID: t.clientId,
    POWENS_CLIENT_SECRET: t.clientSecret,
    POWENS_API_URL: t.apiUrl,
    POWENS_WEBVIEW_URL: t.webviewUrl,
    REDIS_URL: t.redisUrl,
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    TOKEN_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    AUTH_MODE: 'header',
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

const MAX_OUTPUT = 64 * 1024;
const HEAP_MARKER = 'BENCH_HEAP ';

export function startChild(name: string, command: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name} did not start`);
  let output = '';
  let partial = '';
  const heapReports: HeapSample[] = [];
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-MAX_OUTPUT);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith(HEAP_MARKER)) heapReports.push(JSON.parse(line.slice(HEAP_MARKER.length)) as HeapSample);
    }
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    name,
    proc,
    pid: proc.pid,
    output: () => output,
    heapReports,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until `url` answers 200 (or the child dies, or the time is up). */
export async function waitForHttp(child: Child, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with ${child.proc.exitCode}:\n${child.output()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${child.name} did not answer ${url} in time:\n${child.output()}`);
}

/** A redis-server of the benchmark's own, without persistence, on a free port. */
export async function startRedis(): Promise<{ url: string; child: Child; cleanup(): void }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bff-bench-redis-'));
  const child = startChild('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  });
  const deadline = Date.now() + 5000;
  for (;;) {
    const open = await portOpen(port);
    if (open) break;
    if (child.proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`redis-server did not start (is it installed?):\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url: `redis://127.0.0.1:${port}`, child, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Peak resident set size of a process so far (VmHWM), in bytes; undefined where /proc is missing. */
export function peakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;

/** CPU time (user + system) a process used so far, in microseconds; undefined where /proc is missing. */
export function cpuMicros(pid: number): number | undefined {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks / ticksPerSecond) * 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time all processes of the machine spent so far (user and system, all CPUs), in microseconds. */
export function machineBusyMicros(): number | undefined {
  try {
    ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal: user, nice and system only, the time that
    // processes account for (interrupt time is mostly the benchmark's own loopback traffic).
    const busy = (cpu[0] ?? NaN) + (cpu[1] ?? NaN) + (cpu[2] ?? NaN);
    return Number.isFinite(busy) ? (busy / ticksPerSecond) * 1e6 : undefined;
  } catch {
    return undefined;
  }
}

export interface HeapSample {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  collected: boolean;
}

/** Asks a child loaded with probe.js for its heap after a full collection. */
export async function heapAfterGc(child: Child, timeoutMs = 5000): Promise<HeapSample> {
  const seen = child.heapReports.length;
  child.proc.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const report = child.heapReports[seen];
    if (report !== undefined) return report;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${child.name} did not report its heap (started without probe.js?)`);
}
