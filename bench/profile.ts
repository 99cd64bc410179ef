/**
 * Reads the `.cpuprofile` files a `--cpu-prof` run wrote and says where the CPU time went:
 * self time by package (a dependency, the app's own files, Node's internals, GC) and by function.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to build/bench/: the repository is two folders up.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where a run's CPU profiles go: bench/profiles/<prefix><start time>/ (not in git). */
export function profilesDir(startedAt: Date, prefix = ''): string {
  return join(ROOT, 'bench', 'profiles', `${prefix}${startedAt.toISOString().replace(/[:.]/g, '-')}`);
}

/** The `.cpuprofile` files a `--cpu-prof` run wrote in `dir` (none when there is no such folder). */
export function readProfiles(dir: string): { path: string; profile: CpuProfile }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ path: join(dir, f), profile: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile }));
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: `pkg:<name>`, `app:<file>`, `node:<module>`, or V8's own buckets. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '') return `(${functionName.replace(/[()]/g, '') || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return `pkg:${pkg[1]}`;
  // The service's own files: dist/ of this checkout or of a worktree, or a copy under build/ab/<name>/.
  const app = /\/(?:dist|build\/ab\/[^/]+)\/(.+)$/.exec(url);
  if (app?.[1] !== undefined) return `app:${app[1]}`;
  if (url.startsWith('node:')) return url;
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  owners: { owner: string; ms: number; share: number }[];
  /**
   * Each sample charged to the innermost package or app file on its stack, Node's internals
   * and V8's natives skipped: the socket write, header validation or HMAC a middleware asks
   * for count as that middleware's. "Inclusive" time says little in a middleware chain, where
   * every layer has all the later ones on its stack through next().
   */
  charged: { owner: string; ms: number; share: number }[];
  functions: { fn: string; ms: number; share: number }[];
}

export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const chargedTo = new Map<number, string>();
  const nearestOwner = (id: number): string => {
    const known = chargedTo.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    let owner: string;
    if (node === undefined) owner = '(unknown)';
    // Reached the top without meeting a package or app file: Node's own HTTP server and sockets.
    else if (node.callFrame.functionName === '(root)') owner = '(node only)';
    else if (node.callFrame.url === '' && node.callFrame.functionName.startsWith('(')) owner = ownerOf('', node.callFrame.functionName);
    else {
      const own = ownerOf(node.callFrame.url, node.callFrame.functionName);
      const up = parent.get(id);
      owner = own.startsWith('pkg:') || own.startsWith('app:') ? own : up === undefined ? '(node only)' : nearestOwner(up);
    }
    chargedTo.set(id, owner);
    return owner;
  };
  const charged = new Map<string, number>();
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const node = byId.get(id);
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      return;
    }
    const owner = ownerOf(url, functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const to = nearestOwner(id);
    charged.set(to, (charged.get(to) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${owner}${url === '' ? '' : `:${lineNumber + 1}`}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  });
  const busy = total - idle;
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, top)
      .map(([k, us]) => ({ k, ms: Math.round(us / 1000), share: Math.round((us / busy) * 1000) / 10 }));
  return {
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    owners: rank(owners).map(({ k, ms, share }) => ({ owner: k, ms, share })),
    charged: rank(charged).map(({ k, ms, share }) => ({ owner: k, ms, share })),
    functions: rank(functions).map(({ k, ms, share }) => ({ fn: k, ms, share })),
  };
}

/** A printable summary of every profile in `dir`. */
export function summarizeProfiles(dir: string): string {
  const profiles = readProfiles(dir);
  if (profiles.length === 0) return `no CPU profile in ${dir}`;
  const out: string[] = [];
  for (const { path, profile } of profiles) {
    const s = summarize(profile);
    out.push(`CPU profile ${path}: ${s.busyMs} ms busy of ${s.totalMs} ms`);
    out.push('  self time by owner:');
    for (const o of s.owners) out.push(`    ${String(o.share).padStart(5)} %  ${String(o.ms).padStart(7)} ms  ${o.owner}`);
    out.push('  charged to the nearest package or app file on the stack (with the Node work it asked for):');
    for (const o of s.charged) out.push(`    ${String(o.share).padStart(5)} %  ${String(o.ms).padStart(7)} ms  ${o.owner}`);
    out.push('  self time by function:');
    for (const f of s.functions) out.push(`    ${String(f.share).padStart(5)} %  ${String(f.ms).padStart(7)} ms  ${f.fn}`);
  }
  return out.join('\n');
}
