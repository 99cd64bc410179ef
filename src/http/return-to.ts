const BASE = 'http://return-to.invalid';

/**
 * A return path confined to this service's origin: `/x` is kept; `//x`, `/\x`, absolute URLs,
 * `javascript:`, control characters (CR/LF) and anything that would resolve to another origin
 * fall back to `/`.
 */
export function safeReturnTo(value: string | undefined): string {
  if (value === undefined || value.length === 0 || value.length > 2048) return '/';
  if (!value.startsWith('/') || value.startsWith('//')) return '/';
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
  return `${url.pathname}${url.search}${url.hash}`;
}

/** Adds `name=value` to a path's query string. */
export function withQuery(path: string, name: string, value: string): string {
  const url = new URL(path, BASE);
  url.searchParams.set(name, value);
  return `${url.pathname}${url.search}${url.hash}`;
}
