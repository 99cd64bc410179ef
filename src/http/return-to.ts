const BASE = 'http://return-to.invalid';

/** A path that a browser would read as another host: `//x` or `/\x` (backslash counts as slash). */
function leavesOrigin(path: string): boolean {
  return path.startsWith('//') || path.startsWith('/\\');
}

/**
 * A return path confined to this service's origin: `/x` is kept; `//x`, `/\x`, absolute URLs,
 * `javascript:`, control characters (CR/LF) and anything that would resolve to another origin
 * fall back to `/`.
 */
export function safeReturnTo(value: string | undefined): string {
  if (value === undefined || value.length === 0 || value.length > 2048) return '/';
  if (!value.startsWith('/') || leavesOrigin(value)) return '/';
  // Browsers treat a backslash like a slash (`/\evil.example`), and control characters can
  // split headers or be stripped into `//`.
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return '/';
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return '/';
  }
  if (url.origin !== BASE) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments are resolved by the parse above: `/.//evil.example` and `/a/..//evil.example`
  // become `//evil.example`, which a browser would follow to another host.
  if (leavesOrigin(path)) return '/';
  return path;
}

/** Adds `name=value` to a path's query string. */
export function withQuery(path: string, name: string, value: string): string {
  const url = new URL(path, BASE);
  url.searchParams.set(name, value);
  return `${url.pathname}${url.search}${url.hash}`;
}
