// `npm audit --omit=dev --audit-level=high` with one distinction npm does not make: a high or
// critical advisory fails the build; an advisory endpoint that cannot be reached is reported
// loudly as "not checked" (some registry mirrors answer the bulk endpoint with 405) rather
// than passed off as a clean audit or as a finding.
import { spawnSync } from 'node:child_process';

const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error('npm audit printed no JSON report:', run.stderr.slice(0, 500));
  process.exit(1);
}
const counts = report?.metadata?.vulnerabilities;
if (counts === undefined) {
  const reason = report?.statusCode ? `HTTP ${report.statusCode}` : String(report?.message ?? 'no report');
  console.log(`npm audit: NOT CHECKED — the advisory endpoint could not be reached (${reason}).`);
  process.exit(0);
}
const serious = (counts.high ?? 0) + (counts.critical ?? 0);
console.log(`npm audit (production dependencies): ${JSON.stringify(counts)}`);
if (serious > 0) {
  spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high'], { stdio: 'inherit' });
  process.exit(1);
}
