import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

/**
 * `.env` in the working directory, read at start-up by `npm start`, `npm run demo` and
 * `npm run rotate-keys` (the file docker compose reads too, made from .env.example).
 *
 * Variables already in the environment win: a value set by the orchestrator, the shell or CI
 * is never replaced by a file left on the disk. Read with util.parseEnv (Node's own parser,
 * the one of `--env-file`) and assigned here, rather than with process.loadEnvFile, so that
 * this rule holds on every Node version the service supports, whatever each one's
 * loadEnvFile does with variables already set. Quotes are removed, `#` starts a comment only
 * at the start of a line or outside quotes; keep values unquoted and comments on their own
 * lines, as .env.example says, so docker compose reads the same values.
 */
export interface DotEnvReport {
  path: string;
  /** Names set from the file. */
  loaded: string[];
  /** Names the file has but the environment already set: the environment's value is kept. */
  kept: string[];
}

export function loadDotEnv(env: Record<string, string | undefined> = process.env, dir: string = process.cwd()): DotEnvReport | undefined {
  const path = join(dir, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const report: DotEnvReport = { path, loaded: [], kept: [] };
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] !== undefined) report.kept.push(name);
    else {
      env[name] = value;
      report.loaded.push(name);
    }
  }
  return report;
}

/** One line for the start-up output: which file, how many variables, which ones the environment overrode. */
export function describeDotEnv(report: DotEnvReport): string {
  const kept = report.kept.length === 0 ? '' : `; already set in the environment, kept: ${report.kept.join(', ')}`;
  return `read ${report.path}: ${report.loaded.length} variable${report.loaded.length === 1 ? '' : 's'}${kept}`;
}
