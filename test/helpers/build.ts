/**
 * The service compiled once for the tests that run it as a real process (`node <dir>/main.js`),
 * and the demo likewise (`node <dir>/demo/main.js`).
 *
 * Compiled with tsconfig.build.json, exactly as `npm run build` does (the demo with
 * demo/tsconfig.json, as `npm run demo` does), but into a folder of its own under .tmp/ named
 * after the sources: several test files (jest workers) share one build, a later edit of the
 * sources gets a new one, and neither touches dist/ or build/ nor a build that a running
 * process is still loading. A lock folder (mkdir is atomic) makes concurrent workers wait for
 * the one that builds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { timedOut } from './wait.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILDS = join(ROOT, '.tmp', 'build');
/** How long a test waits for a build (its own or another worker's); hooks that build allow as long. */
export const BUILD_WAIT_MS = 180_000;
const WAIT_MS = BUILD_WAIT_MS;

/**
 * Variables to add to the environment of a process started from the build. `npm test`
 * (coverage-run.mjs) sets CHILD_V8_COVERAGE: the child then writes V8 coverage there
 * (NODE_V8_COVERAGE) and loads coverage-child.mjs, which also writes it before a kill
 * (see stopChild). Empty otherwise.
 */
export function coverageEnv(): Record<string, string> {
  const dir = process.env.CHILD_V8_COVERAGE;
  if (!dir) return {};
  return { NODE_V8_COVERAGE: dir, NODE_OPTIONS: `--import=${pathToFileURL(join(ROOT, 'test', 'helpers', 'coverage-child.mjs')).href}` };
}

/**
 * A working directory for the processes the tests start: empty, so that a `.env` a developer
 * keeps at the root of the repository (`npm start` reads the one of its working directory)
 * never leaks into a test.
 */
export function neutralCwd(): string {
  const dir = join(ROOT, '.tmp', 'cwd');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Ends a child at once (SIGKILL). Under coverage, SIGUSR2 first: coverage-child.mjs writes
 * the coverage gathered so far and kills the process; SIGKILL follows if it is not gone in 3 s.
 */
export function stopChild(child: ChildProcess): void {
  if (!process.env.CHILD_V8_COVERAGE) {
    child.kill('SIGKILL');
    return;
  }
  child.kill('SIGUSR2');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  child.once('exit', () => clearTimeout(timer));
}

/** What one build compiles: its tsconfig, and the folders and files its output depends on. */
interface Target {
  config: string;
  folders: string[];
  files: string[];
}

/** The service alone, as the image carries it. */
const SERVICE: Target = {
  config: 'tsconfig.build.json',
  folders: ['src'],
  files: ['tsconfig.base.json', 'tsconfig.build.json', 'package.json'],
};

/** The demo: demo/main.ts with the service and the emulator it wires together. */
const DEMO: Target = {
  config: 'demo/tsconfig.json',
  folders: ['src', 'emulator', 'demo'],
  files: ['tsconfig.base.json', 'package.json'],
};

/** The emulator alone, as `npm run emulator` and its image build it: main.js at the top. */
const EMULATOR: Target = {
  config: 'emulator/tsconfig.json',
  folders: ['emulator'],
  files: ['tsconfig.base.json', 'package.json'],
};

/** Newest modification time and number of files of a target's sources plus the compiler settings. */
function fingerprint(target: Target): string {
  let newest = 0;
  let count = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        count += 1;
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  for (const folder of target.folders) walk(join(ROOT, folder));
  for (const file of target.files) newest = Math.max(newest, statSync(join(ROOT, file)).mtimeMs);
  return createHash('sha256').update(`${target.config}:${count}:${newest}`).digest('hex').slice(0, 16);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function compile(config: string, outDir: string): Promise<void> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const child = spawn(process.execPath, [tsc, '-p', config, '--outDir', outDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`the build (tsc -p ${config}) failed:\n${output.slice(0, 4000)}`);
}

/** Builds the service unless an up-to-date build exists; answers the folder holding main.js. */
export function buildService(): Promise<string> {
  return build(SERVICE);
}

/** Builds the emulator unless an up-to-date build exists; answers the folder holding its main.js. */
export function buildEmulator(): Promise<string> {
  return build(EMULATOR);
}

/** Builds the demo unless an up-to-date build exists; answers the folder holding demo/main.js. */
export function buildDemo(): Promise<string> {
  return build(DEMO);
}

async function build(target: Target): Promise<string> {
  const key = fingerprint(target);
  const outDir = join(BUILDS, key);
  const done = join(outDir, '.complete');
  const lock = join(BUILDS, `${key}.lock`);
  mkdirSync(BUILDS, { recursive: true });
  const deadline = Date.now() + WAIT_MS;
  while (!existsSync(done)) {
    if (Date.now() > deadline) throw timedOut(`the build in ${outDir} (its lock, ${lock}, is held by pid ${readFileSafe(join(lock, 'pid')) || '?'})`, WAIT_MS);
    try {
      mkdirSync(lock);
    } catch {
      // Someone else builds: wait for them, unless they died with the lock held.
      const holder = Number(readFileSafe(join(lock, 'pid')));
      if (holder > 0 && !alive(holder)) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      writeFileSync(join(lock, 'pid'), String(process.pid));
      if (!existsSync(done)) {
        rmSync(outDir, { recursive: true, force: true });
        await compile(target.config, outDir);
        writeFileSync(done, new Date().toISOString());
        prune(key);
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return outDir;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Builds of older sources, unused for an hour (a process may still run from a recent one). */
function prune(current: string): void {
  for (const name of readdirSync(BUILDS)) {
    if (name === current || name.endsWith('.lock')) continue;
    const path = join(BUILDS, name);
    if (Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
  }
}
