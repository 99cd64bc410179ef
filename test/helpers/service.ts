/**
 * The service as a real process: `node main.js` from the tests' build (test/helpers/build.ts),
 * configured by environment variables only, as in production. Every process started here is
 * killed by `killServices()` (call it in afterAll) and, as a last resort, when jest exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { buildService, coverageEnv, neutralCwd, stopChild } from './build.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TOKEN_KEY } from './stack.js';
import { waitFor, withinDeadline, type WaitForOptions } from './wait.js';

export interface ServiceProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Everything written so far (pino JSON lines on stdout; start-up failures on stderr). */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal) once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** The environment of a test instance: emulator as Powens, header auth, no rate limits. */
export function serviceEnv(opts: { port: number; redisUrl: string; apiUrl: string; webviewUrl: string; publicUrl?: string }): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    PUBLIC_URL: opts.publicUrl ?? `http://127.0.0.1:${opts.port}`,
    POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
    POWENS_CLIENT_ID: TEST_CLIENT_ID,
    POWENS_CLIENT_SECRET: TEST_CLIENT_SECRET,
    POWENS_API_URL: opts.apiUrl,
    POWENS_WEBVIEW_URL: opts.webviewUrl,
    POWENS_TIMEOUT_MS: '3000',
    POWENS_RETRIES: '1',
    REDIS_URL: opts.redisUrl,
    REDIS_PREFIX: 'svc:',
    REDIS_COMMAND_TIMEOUT_MS: '500',
    REDIS_STARTUP_TIMEOUT_MS: '3000',
    SESSION_SECRET: 'test-session-secret-0123456789-abcdefghij',
    TOKEN_ENCRYPTION_KEYS: TEST_TOKEN_KEY,
    AUTH_MODE: 'header',
    // The tests' clients are on loopback: they play the proxy that sets the identity header.
    TRUST_PROXY: 'loopback',
    RATE_LIMIT_PER_IP: '0',
    RATE_LIMIT_PER_USER: '0',
    CONNECTIONS_CACHE_TTL_SECONDS: '0',
    LOG_LEVEL: 'info',
  };
}

/**
 * Starts `node main.js` with exactly `env` (plus PATH); with `waitReady`, resolves once
 * /readyz answers 200 and rejects, with the process output, if it exits first.
 */
export async function spawnService(env: Record<string, string>, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
  const dir = await buildService();
  const proc = spawn(process.execPath, [join(dir, 'main.js')], {
    cwd: neutralCwd(),
    env: { PATH: process.env.PATH ?? '', ...coverageEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    });
  });
  const port = Number(env.PORT);
  const service: ServiceProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    running: () => proc.exitCode === null && proc.signalCode === null,
  };
  if (opts.waitReady !== false) await waitReady(service);
  return service;
}

/**
 * Waits until `<url>/readyz` answers 200 (each probe bounded by 1 s), for at most `timeoutMs`;
 * the error names `what` (the service at `url` unless told).
 */
export async function waitUntilReady(url: string, opts: Partial<Omit<WaitForOptions, 'intervalMs'>> = {}): Promise<void> {
  const ready = (): Promise<boolean> =>
    fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      async (r) => {
        await r.arrayBuffer();
        return r.status === 200;
      },
      () => false,
    );
  await waitFor(ready, { timeoutMs: 15_000, what: `${url}/readyz to answer 200`, ...opts, intervalMs: 50 });
}

/** Waits until the service process is ready; gives up at once, with its output, if it exits. */
export async function waitReady(service: ServiceProcess, timeoutMs = 15_000): Promise<void> {
  await waitUntilReady(service.url, {
    timeoutMs,
    what: `the service on port ${service.port} to be ready`,
    giveUpIf: () => (service.running() ? undefined : 'the service exited during start-up'),
    detail: () => `${service.stderr()}\n${service.stdout().slice(-2000)}`,
  });
}

/** Kills every service process still running (SIGKILL) and waits for them to be gone. */
export async function killServices(): Promise<void> {
  const waits = [...children].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        stopChild(child);
      }),
  );
  await withinDeadline(Promise.all(waits), 10_000, `${waits.length} service process(es) to exit after SIGKILL`);
}
