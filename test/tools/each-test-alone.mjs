// Runs every test of the given files alone (`jest <file> -t "^<full name>$"`), then each file
// whole with `--randomize` under a few seeds: a test that passes only after another one of its
// file has run (a user, a Redis key, emulator state it left behind) fails here.
// Not part of `npm test` (one jest per test is slow); run it by hand on the files you change:
//   node test/tools/each-test-alone.mjs test/integration/api.test.ts [more files] [--seeds 1,2] [--no-alone]
//   node test/tools/each-test-alone.mjs test/e2e/demo.e2e.test.ts --config jest.e2e.config.js   (after `npm run e2e` built the demo)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const JEST = join(ROOT, 'node_modules', '.bin', 'jest');
const tmp = mkdtempSync(join(tmpdir(), 'each-test-alone-'));

const args = process.argv.slice(2);
const withValue = ['--seeds', '--config'];
const files = args.filter((a, i) => !a.startsWith('--') && !withValue.includes(args[i - 1] ?? ''));
const configArg = args.indexOf('--config');
const config = configArg === -1 ? [] : [`--config=${args[configArg + 1] ?? ''}`];
const seedsArg = args.indexOf('--seeds');
const seeds = seedsArg === -1 ? [1, 2] : (args[seedsArg + 1] ?? '').split(',').filter(Boolean).map(Number);
const alone = !args.includes('--no-alone');
if (files.length === 0) {
  console.error('usage: node test/tools/each-test-alone.mjs <test files...> [--seeds 1,2] [--no-alone] [--config jest.e2e.config.js]');
  process.exit(2);
}

let run = 0;
/** One jest run over `file` with `extra` arguments: its JSON report. */
function jest(file, extra) {
  const out = join(tmp, `r${(run += 1)}.json`);
  const res = spawnSync(JEST, [...config, file, '--runInBand', '--json', `--outputFile=${out}`, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() },
  });
  try {
    return JSON.parse(readFileSync(out, 'utf8'));
  } catch {
    return { numFailedTests: 1, numPassedTests: 0, testResults: [{ message: res.stderr.slice(-2000), assertionResults: [] }] };
  }
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const why = (report) => {
  const failed = report.testResults.flatMap((r) => r.assertionResults.filter((a) => a.status === 'failed'));
  const text =
    failed.length > 0 ? failed.map((a) => `${a.fullName}: ${a.failureMessages.join(' ')}`).join('\n') : report.testResults.map((r) => r.message).join('\n');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 6)
    .map((l) => `      ${l.slice(0, 240)}`)
    .join('\n');
};

let failures = 0;
for (const file of files) {
  // A pattern that matches no test: jest lists them all as skipped and runs no hook.
  const listing = jest(file, ['--testNamePattern', '(?!)']);
  const names = [...new Set(listing.testResults.flatMap((r) => r.assertionResults.map((a) => a.fullName)))];
  console.log(`${file}: ${names.length} tests`);
  if (alone) {
    for (const name of names) {
      const report = jest(file, ['--testNamePattern', `^${escape(name)}$`]);
      const ok = report.numFailedTests === 0 && report.numPassedTests >= 1 && report.testResults.every((r) => r.status !== 'failed');
      if (!ok) failures += 1;
      console.log(`  ${ok ? 'ok  ' : 'FAIL'} alone: ${name}${ok ? '' : `\n${why(report)}`}`);
    }
  }
  for (const seed of seeds) {
    const report = jest(file, ['--randomize', `--seed=${seed}`]);
    const ok = report.numFailedTests === 0 && report.testResults.every((r) => r.status !== 'failed');
    if (!ok) failures += 1;
    console.log(
      `  ${ok ? 'ok  ' : 'FAIL'} --randomize --seed=${seed} (${report.numPassedTests} passed, ${report.numFailedTests} failed)${ok ? '' : `\n${why(report)}`}`,
    );
  }
}
rmSync(tmp, { recursive: true, force: true });
console.log(failures === 0 ? 'all passed' : `${failures} failing run(s)`);
process.exit(failures === 0 ? 0 : 1);
