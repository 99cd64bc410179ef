import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The service's imports run one way (docs/ARCHITECTURE.md): features -> domain -> foundation,
 * with start-up and wiring (main, app, server, scripts) above them all. Features never import
 * each other; domain modules may use each other but without a cycle between their folders.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

type Floor = 'foundation' | 'domain' | 'feature' | 'top';
const RANK: Record<Floor, number> = { foundation: 0, domain: 1, feature: 2, top: 3 };

const FLOORS: [RegExp, Floor][] = [
  [/^(main|app|server)\.ts$|^scripts\//, 'top'],
  [/^(flows|api|webhooks|web|ops)\//, 'feature'],
  [/^(connections|powens|storage|auth|limits)\//, 'domain'],
  [/^(config|errors|crypto|logging|metrics|lifecycle|tracing)\.ts$|^(config|http|i18n)\//, 'foundation'],
];

/** A file's group: its folder under src/, or the file itself at the top of src/. */
function group(file: string): string {
  return file.includes('/') ? (file.split('/')[0] ?? file) : file;
}

function floorOf(file: string): Floor | undefined {
  return FLOORS.find(([pattern]) => pattern.test(file))?.[1];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

interface Edge {
  from: string;
  to: string;
}

/** Relative imports and re-exports (static and dynamic) of every file, as paths under src/ (or outside it). */
function edges(files: string[]): Edge[] {
  const specifier = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
  return files.flatMap((from) => {
    const text = readFileSync(join(SRC, from), 'utf8');
    const found: Edge[] = [];
    for (const m of text.matchAll(specifier)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (!spec.startsWith('.')) continue;
      const to = relative(SRC, resolve(SRC, dirname(from), spec)).replace(/\.js$/, '.ts');
      found.push({ from, to });
    }
    return found;
  });
}

const files = sourceFiles(SRC);
const all = edges(files);

describe('the layers of the service', () => {
  it('places every source file on a floor', () => {
    expect(files.filter((f) => floorOf(f) === undefined)).toEqual([]);
  });

  it('imports nothing from outside src/ (no emulator, bench or test code in the service)', () => {
    expect(all.filter((e) => e.to.startsWith('..')).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('never imports upwards', () => {
    const upwards = all.filter((e) => {
      const from = floorOf(e.from);
      const to = floorOf(e.to);
      return from !== undefined && to !== undefined && RANK[to] > RANK[from];
    });
    expect(upwards.map((e) => `${e.from} (${floorOf(e.from)}) -> ${e.to} (${floorOf(e.to)})`)).toEqual([]);
  });

  it('keeps feature folders apart', () => {
    const across = all.filter((e) => floorOf(e.from) === 'feature' && floorOf(e.to) === 'feature' && group(e.from) !== group(e.to));
    expect(across.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('has no cycle between the folders of one floor', () => {
    const next = new Map<string, Set<string>>();
    for (const e of all) {
      const a = group(e.from);
      const b = group(e.to);
      if (a === b || floorOf(e.from) !== floorOf(e.to)) continue;
      next.set(a, (next.get(a) ?? new Set()).add(b));
    }
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      if (path.includes(node)) {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
        return;
      }
      for (const n of next.get(node) ?? []) visit(n, [...path, node]);
    };
    for (const start of next.keys()) visit(start, []);
    expect(cycles).toEqual([]);
  });

  // Tracing is off unless the OTEL_* variables turn it on: the SDK and its exporters (some 7 MB
  // of RSS) are loaded only then, by main.ts's dynamic import of ops/tracing.ts.
  it('loads the OpenTelemetry SDK only when tracing is on', () => {
    const sdk = /(?:import|export)\s[^'"]*?from\s*['"](@opentelemetry\/(?!api['"])[^'"]+)['"]/g;
    const sdkUsers = files.filter((f) => [...readFileSync(join(SRC, f), 'utf8').matchAll(sdk)].length > 0);
    expect(sdkUsers).toEqual(['ops/tracing.ts']);
    const staticImport = /(?:import|export)\s[^'"]*?from\s*['"][^'"]*ops\/tracing\.js['"]/;
    expect(files.filter((f) => staticImport.test(readFileSync(join(SRC, f), 'utf8')))).toEqual([]);
    expect(all).toContainEqual({ from: 'main.ts', to: 'ops/tracing.ts' });
  });

  // The checks above are only as good as the parsing of imports: make sure it sees them.
  it('finds the imports it checks', () => {
    expect(all).toContainEqual({ from: 'app.ts', to: 'flows/routes.ts' });
    expect(all).toContainEqual({ from: 'flows/callback.ts', to: 'connections/service.ts' });
    expect(all.length).toBeGreaterThan(100);
  });
});
