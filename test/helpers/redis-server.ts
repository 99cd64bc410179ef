import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from './ports.js';
import { waitFor, withinDeadline } from './wait.js';

export { freePort };

export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then waits for the port to close). No-op for a shared REDIS_URL. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
  /** Whether this is our own redis-server process (only then can a test stop it). */
  owned: boolean;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. Own server only. */
  pause(): void;
  /** Undoes pause() (SIGCONT). */
  resume(): void;
}

export interface TestRedisOptions {
  /** requirepass: the url then carries it. */
  password?: string;
  /** More redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[];
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

function waitForPort(port: number, open: boolean, giveUpIf?: () => string | undefined): Promise<void> {
  return waitFor(async () => (await portOpen(port)) === open, {
    timeoutMs: 5000,
    ...(giveUpIf !== undefined ? { giveUpIf } : {}),
    what: `redis-server on port ${port} to ${open ? 'accept connections' : 'stop accepting connections'}`,
  });
}

/**
 * A redis-server of the test's own on a free port (no persistence), so a test can stop and
 * restart it. Where redis-server is not installed, falls back to REDIS_URL (and tests that
 * need to stop Redis must check `owned`).
 */
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  if (!hasRedisServer()) {
    const url = process.env.REDIS_URL;
    if (url === undefined) {
      throw new Error('redis-server is not installed and REDIS_URL is not set: apt-get install redis-server');
    }
    const notOwned = (): void => {
      throw new Error("this Redis is not the test's own redis-server");
    };
    return {
      url,
      port: Number(new URL(url).port || 6379),
      owned: false,
      stop: async () => {},
      start: async () => {},
      close: async () => {},
      pause: notOwned,
      resume: notOwned,
    };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bff-redis-'));
  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--logfile',
        '',
        ...(options.password !== undefined ? ['--requirepass', options.password] : []),
        ...(options.args ?? []),
      ],
      { stdio: 'ignore' },
    );
    const started = proc;
    await waitForPort(port, true, () => (started.exitCode !== null ? `redis-server exited with code ${started.exitCode}` : undefined));
  };
  const stop = async (): Promise<void> => {
    if (proc === undefined) return;
    const p = proc;
    proc = undefined;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await withinDeadline(exited, 5000, `redis-server on port ${port} to exit after SIGKILL`);
    await waitForPort(port, false);
  };
  await start();
  const signal = (sig: NodeJS.Signals): void => {
    if (proc === undefined) throw new Error('redis-server is not running');
    proc.kill(sig);
  };
  return {
    url: `redis://${options.password !== undefined ? `:${encodeURIComponent(options.password)}@` : ''}127.0.0.1:${port}`,
    port,
    owned: true,
    stop,
    start,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
