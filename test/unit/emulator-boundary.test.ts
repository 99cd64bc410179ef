// Where the emulator, the bench and the demo sit against the service (docs/ARCHITECTURE.md):
// src/ holds the service only and imports none of them; the emulator stands in for Powens and
// imports nothing outside its folder; everything else reaches it through emulator/index.ts, but
// the emulator's own unit tests, which test its building blocks. emulator/tsconfig.json enforces
// the emulator's side at compile time too (`npm run typecheck`).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function tsFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  walk(join(root, folder));
  return out;
}

/** The relative imports of a file (static, re-exports and dynamic), as repository paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specifiers.map((s) =>
    relative(root, resolve(dirname(file), s))
      .split(sep)
      .join('/'),
  );
}

const under = (path: string, folder: string): boolean => path === folder || path.startsWith(`${folder}/`);
const rel = (file: string): string => relative(root, file).split(sep).join('/');
const EMULATOR_UNIT_TESTS = 'test/unit/emulator.test.ts';

describe('layout of the service and its dev programs', () => {
  it('keeps src/ for the service: no emulator, bench or demo in it, and no import of them', () => {
    const files = tsFiles('src').map(rel);
    expect(files.filter((f) => under(f, 'src/emulator') || under(f, 'src/bench') || f === 'src/demo.ts')).toEqual([]);
    const outside = tsFiles('src').flatMap((f) =>
      relativeImports(f)
        .filter((i) => !under(i, 'src'))
        .map((i) => `${rel(f)} -> ${i}`),
    );
    expect(outside).toEqual([]);
  });

  it('has the emulator import nothing outside emulator/', () => {
    const outside = tsFiles('emulator').flatMap((f) =>
      relativeImports(f)
        .filter((i) => !under(i, 'emulator'))
        .map((i) => `${rel(f)} -> ${i}`),
    );
    expect(outside).toEqual([]);
  });

  it("has tests, the demo and the bench reach the emulator through emulator/index.js only (but the emulator's own unit tests)", () => {
    const files = [...tsFiles('test').filter((f) => rel(f) !== EMULATOR_UNIT_TESTS), ...tsFiles('demo'), ...tsFiles('bench')];
    const private_ = files.flatMap((f) =>
      relativeImports(f)
        .filter((i) => under(i, 'emulator') && i !== 'emulator/index.js')
        .map((i) => `${rel(f)} -> ${i}`),
    );
    expect(private_).toEqual([]);
  });

  it('has tests import nothing from bench/ but the test of the bench profile summary', () => {
    const imports = tsFiles('test').flatMap((f) =>
      relativeImports(f)
        .filter((i) => under(i, 'bench'))
        .map((i) => `${rel(f)} -> ${i}`),
    );
    expect(imports).toEqual(['test/unit/bench-profile.test.ts -> bench/profile.js']);
  });
});
