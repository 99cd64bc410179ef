/** Running one fault scenario by itself (`node build/bench/faults/<name>.js`), as the runner would. */
import { pathToFileURL } from 'node:url';
import type { FaultScenario } from './types.js';

/** Runs `scenario` and prints its figures when `moduleUrl` is the script node was started with. */
export function runIfMain(moduleUrl: string, scenario: FaultScenario): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  scenario
    .run({ log })
    .then((figures) => {
      const width = Math.max(0, ...Object.keys(figures).map((k) => k.length)) + 2;
      for (const [k, v] of Object.entries(figures)) log(`${k.padEnd(width)} ${v}`);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
}
