import { describeDotEnv, formatProblems, loadDotEnv, type Env } from '../config.js';

/** A line on stderr: the scripts keep stdout for their answer. */
export function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

/**
 * What a script reads before it starts, the way the service does: `.env` when present (said on
 * stderr), then `load` on the environment. Undefined, after a line naming each problem, when
 * either fails; the script then exits 1.
 */
export function scriptEnvironment<R extends { ok: true }>(load: (env: Env) => R | { ok: false; problems: string[] }): R | undefined {
  try {
    const dotEnv = loadDotEnv();
    if (dotEnv !== undefined) line(describeDotEnv(dotEnv));
  } catch (err: unknown) {
    line(err instanceof Error ? err.message : String(err));
    return undefined;
  }
  const result = load(process.env);
  if (!result.ok) {
    line(formatProblems(result.problems));
    return undefined;
  }
  return result;
}
