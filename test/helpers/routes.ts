import type { Express } from 'express';

export interface AppRoute {
  method: string;
  path: string;
}

// Express routers are functions with properties, so functions count as records here.
function isRecord(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

function paths(raw: unknown): string[] {
  const list = Array.isArray(raw) ? (raw as unknown[]).flat(Infinity) : [raw];
  return list.map((p) => {
    // A RegExp route cannot be enumerated into a request: fail loudly so the test gets updated.
    if (typeof p !== 'string') throw new Error(`route path ${String(p)} is not a string: teach test/helpers/routes.ts about it`);
    return p;
  });
}

const ANY_STATE_CHANGING = ['POST', 'PUT', 'PATCH', 'DELETE'];

function walk(router: unknown, prefix: string, out: AppRoute[]): void {
  const stack = isRecord(router) && Array.isArray(router.stack) ? (router.stack as unknown[]) : [];
  for (const layer of stack) {
    if (!isRecord(layer)) continue;
    const route = layer.route;
    if (isRecord(route)) {
      const methods = isRecord(route.methods) ? Object.keys(route.methods) : [];
      for (const path of paths(route.path)) {
        for (const m of methods) {
          for (const method of m === '_all' ? ANY_STATE_CHANGING : [m.toUpperCase()]) out.push({ method, path: prefix + path });
        }
      }
      continue;
    }
    const handle = layer.handle;
    if (isRecord(handle) && Array.isArray(handle.stack)) {
      const mounts = layer.slash === true ? [''] : paths(layer.rawPath).map((p) => (p === '/' ? '' : p));
      for (const mount of mounts) walk(handle, prefix + mount, out);
    }
  }
}

/**
 * Every route of an Express 5 app, by walking `app.router.stack` (nested routers included, with
 * their mount paths), so a test can hold each route to a rule, including routes added later.
 */
export function listRoutes(app: Express): AppRoute[] {
  const out: AppRoute[] = [];
  walk((app as unknown as { router: unknown }).router, '', out);
  const seen = new Set<string>();
  return out.filter((r) => {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A concrete path for a route template: each `:param` (and `*wildcard`) from `values`, else `1`. */
export function samplePath(template: string, values: Record<string, string> = {}): string {
  return template.replace(/[{}]/g, '').replace(/[:*]([A-Za-z_$][A-Za-z0-9_$]*)/g, (_m, name: string) => encodeURIComponent(values[name] ?? '1'));
}
