// Loaded (node --import) by the processes that the tests start from the build, only when
// `npm test` measures coverage (test/helpers/build.ts coverageEnv). Node writes V8 coverage
// (NODE_V8_COVERAGE) at a normal exit, never at a SIGKILL, which is how the tests end a
// service: SIGUSR2 (test/helpers/build.ts stopChild) writes what was gathered, then kills.
import { takeCoverage } from 'node:v8';

process.on('SIGUSR2', () => {
  takeCoverage();
  process.kill(process.pid, 'SIGKILL');
});
