/**
 * `npm run docs:env`: rewrites the variable table of README.md and `.env.example` from the
 * declarations in src/config/variables.ts. With `--check` it writes nothing and exits 1 when
 * either file differs (test/unit/env-docs.test.ts checks the same in CI).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderEnvExample, withReadmeTable } from './env-table.js';

// build/tools/env-docs.js -> the repository.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const check = process.argv.includes('--check');

const files = [
  { path: join(ROOT, 'README.md'), render: withReadmeTable },
  { path: join(ROOT, '.env.example'), render: () => renderEnvExample() },
];

let stale = 0;
for (const { path, render } of files) {
  const before = readFileSync(path, 'utf8');
  const after = render(before);
  if (after === before) continue;
  stale += 1;
  if (check) process.stderr.write(`${path} is out of date: run npm run docs:env\n`);
  else {
    writeFileSync(path, after);
    process.stdout.write(`wrote ${path}\n`);
  }
}
if (stale === 0) process.stdout.write('README.md and .env.example match src/config/variables.ts\n');
process.exit(check && stale > 0 ? 1 : 0);
