/**
 * `npm run faults` (docs/RELIABILITY.md): runs the fault scenarios of bench/faults/, one after
 * the other, and prints a table of their figures. Every scenario starts what it needs on
 * loopback (redis-server, the emulator, the service) and stops it; each is bounded in time, and
 * the runner gives up on one after --timeout seconds. Figures, not assertions: the run fails
 * (exit code 1) only when a scenario throws or times out, never because of a figure.
 *
 * Scenarios are found in the folder: every bench/faults/*.ts but this runner and types.ts
 * exports `scenario: FaultScenario` (types.ts). They run in ORDER first, then any other in
 * alphabetical order, so a new scenario needs no change here.
 *
 * Options (after `npm run faults --`): --only <names> (comma-separated, or repeated), --list
 * (names and descriptions, nothing run), --timeout <s> (per scenario, 300), --save (merge the
 * figures of the scenarios run into bench/faults/results.json, with the date and the machine).
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { FaultScenario, Figures } from './types.js';

// Run from build/bench/faults/run.js: the sources are in the repository's bench/faults/, the
// compiled scenarios next to this file.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCES = join(ROOT, 'bench', 'faults');
const BUILT = fileURLToPath(new URL('./', import.meta.url));
const RESULTS = join(SOURCES, 'results.json');

/** The order of the table: the issue's faults as docs/RELIABILITY.md lists them. */
const ORDER = ['webhook-flood', 'untrusted-header', 'sentinel-failover', 'redis-pause-links', 'powens-hanging', 'slow-lists', 'sessions-flood'];
const NOT_SCENARIOS = new Set(['run', 'types', 'standalone', 'common']);

interface Outcome {
  name: string;
  describe: string;
  seconds: number;
  /** The machine's 1-minute load average at the start and at the end: other work on a shared machine shows there. */
  load: [number, number];
  figures?: Figures;
  error?: string;
}

/** The scenario files of the source folder (not stale files of the build), in ORDER, then by name. */
function scenarioFiles(): string[] {
  const names = readdirSync(SOURCES)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .filter((n) => !NOT_SCENARIOS.has(n));
  const rank = (n: string): number => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function isScenario(value: unknown): value is FaultScenario {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Partial<FaultScenario>;
  return typeof s.name === 'string' && typeof s.describe === 'string' && typeof s.run === 'function';
}

async function loadScenarios(): Promise<FaultScenario[]> {
  const found: FaultScenario[] = [];
  for (const file of scenarioFiles()) {
    const path = join(BUILT, `${file}.js`);
    if (!existsSync(path)) throw new Error(`bench/faults/${file}.ts is not built (${path}): run through \`npm run faults\`, which builds it`);
    const mod = (await import(pathToFileURL(path).href)) as { scenario?: unknown };
    if (!isScenario(mod.scenario)) throw new Error(`bench/faults/${file}.ts does not export \`scenario: FaultScenario\` (bench/faults/types.ts)`);
    found.push(mod.scenario);
  }
  return found;
}

function withTimeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const load = (): number => Math.round((os.loadavg()[0] ?? 0) * 100) / 100;

const out = (line: string): void => void process.stdout.write(`${line}\n`);

function table(outcomes: Outcome[]): void {
  out('');
  out('| scenario | figure | value |');
  out('| --- | --- | ---: |');
  for (const o of outcomes) {
    if (o.error !== undefined) {
      out(`| ${o.name} | FAILED | ${o.error.split('\n')[0] ?? ''} |`);
      continue;
    }
    for (const [figure, value] of Object.entries(o.figures ?? {})) out(`| ${o.name} | ${figure} | ${value} |`);
    out(`| ${o.name} | seconds | ${o.seconds} |`);
    out(`| ${o.name} | load average (start, end) | ${o.load.join(', ')} |`);
  }
}

function save(outcomes: Outcome[], startedAt: Date): void {
  // Merged: `--only x --save` replaces x's figures and keeps the others' (each with its own date).
  const previous: unknown = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
  const scenarios = { ...((previous as { scenarios?: Record<string, unknown> }).scenarios ?? {}) };
  for (const o of outcomes) {
    if (o.figures === undefined) continue;
    scenarios[o.name] = { describe: o.describe, date: startedAt.toISOString(), seconds: o.seconds, loadAverage: o.load, figures: o.figures };
  }
  const results = {
    node: process.version,
    machine: {
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
    },
    scenarios,
  };
  writeFileSync(`${RESULTS}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(`${RESULTS}.tmp`, RESULTS);
  out(`written: ${RESULTS}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      list: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '300' },
      save: { type: 'boolean', default: false },
    },
  });
  const timeout = Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout < 1) throw new Error('--timeout must be a whole number of seconds, at least 1');
  const all = await loadScenarios();
  if (values.list) {
    for (const s of all) out(`${s.name.padEnd(20)} ${s.describe}`);
    return;
  }
  const wanted = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
  const unknown = wanted.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`--only: unknown scenario ${unknown.join(', ')}; one of ${all.map((s) => s.name).join(', ')}`);
  const chosen = wanted.length === 0 ? all : all.filter((s) => wanted.includes(s.name));

  const startedAt = new Date();
  out(`${chosen.length} fault scenario(s) on ${os.cpus().length} CPUs, ${process.version}, ${startedAt.toISOString()}`);
  const outcomes: Outcome[] = [];
  for (const s of chosen) {
    out(`\n== ${s.name}: ${s.describe}`);
    const started = performance.now();
    const loadStart = load();
    const log = (line: string): void => out(`[${s.name}] ${line}`);
    const done = (): Pick<Outcome, 'name' | 'describe' | 'seconds' | 'load'> => ({
      name: s.name,
      describe: s.describe,
      seconds: Math.round((performance.now() - started) / 1000),
      load: [loadStart, load()],
    });
    try {
      const figures = await withTimeout(s.run({ log }), timeout, s.name);
      outcomes.push({ ...done(), figures });
    } catch (err: unknown) {
      const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`${s.name} failed: ${error}\n`);
      outcomes.push({ ...done(), error });
    }
  }
  table(outcomes);
  if (values.save) save(outcomes, startedAt);
  const failed = outcomes.filter((o) => o.error !== undefined);
  if (failed.length > 0) {
    out(`\n${failed.length} scenario(s) failed: ${failed.map((o) => o.name).join(', ')}`);
    // A timed-out scenario may still hold servers and timers: exit rather than wait for them.
    process.exit(1);
  }
  // Scenarios stop what they start; anything left (a pooled socket) must not keep the run alive.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`faults: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
