/**
 * What every fault scenario of bench/faults/ exports as `scenario`, and `npm run faults`
 * (bench/faults/run.ts) runs: a name (what `--only` takes), one line saying what it does, and
 * `run`, which starts everything it needs on loopback, injects the fault, stops everything it
 * started, and answers its figures. Figures, not assertions: the tests hold the behaviour
 * (docs/RELIABILITY.md says which); a scenario throws only when it could not measure.
 */
export interface FaultContext {
  /** A progress line, printed as the scenario goes (prefixed with its name). */
  log(line: string): void;
}

export type Figures = Record<string, number | string>;

export interface FaultScenario {
  name: string;
  describe: string;
  run(ctx: FaultContext): Promise<Figures>;
}
