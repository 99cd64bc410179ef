const BASE = 'http://return-to.invalid';
const MAX_LENGTH = 2048;

/** A path that a browser would read as another host: `//x` or `/\x` (backslash counts as slash). */
function leavesOrigin(path: string): boolean {
  return path.startsWith('//') || path.startsWith('/\\');
}

/**
 * An absolute URL as a frontend writes it (`location.href` is ASCII: a punycode host, a
 * percent-encoded path): `http(s)://` and a host, printable ASCII only, so no space, control or
 * format character, no backslash, nothing that a parser would drop or fold (tabs, soft hyphens,
 * full-width letters), and no `https:host` or `https:///host` shorthand.
 */
const ABSOLUTE = /^https?:\/\/[\x21-\x2e\x30-\x5b\x5d-\x7e][\x21-\x5b\x5d-\x7e]*$/i;

/**
 * Where a flow lands when `return_to` is absent or refused: the first of RETURN_TO_ORIGINS (the
 * app's frontend), else the root of this service.
 */
export function defaultLanding(origins: readonly string[]): string {
  const first = origins[0];
  return first === undefined ? '/' : `${first}/`;
}

/**
 * A return target, or undefined when it is not one:
 * - a path of this service's origin: `/x` is kept; `//x`, `/\x`, control characters (CR/LF) and
 *   anything that resolves to another origin are refused;
 * - an absolute URL whose origin is exactly one of `origins` (RETURN_TO_ORIGINS: scheme, host
 *   and port compared as browsers serialise them), without user info. Its serialisation is
 *   returned, so the browser is sent to exactly what was checked.
 */
export function checkReturnTo(value: string | undefined, origins: readonly string[] = []): string | undefined {
  if (value === undefined || value.length === 0 || value.length > MAX_LENGTH) return undefined;
  if (value.startsWith('/')) return localPath(value);
  return origins.length === 0 ? undefined : absoluteUrl(value, origins);
}

/** `checkReturnTo`, or the default landing. */
export function safeReturnTo(value: string | undefined, origins: readonly string[] = []): string {
  return checkReturnTo(value, origins) ?? defaultLanding(origins);
}

function localPath(value: string): string | undefined {
  if (leavesOrigin(value)) return undefined;
  // Browsers treat a backslash like a slash (`/\evil.example`), and control characters can
  // split headers or be stripped into `//`.
  if (/[\\\u0000-\u001f\u007f]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return undefined;
  }
  if (url.origin !== BASE) return undefined;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments are resolved by the parse above: `/.//evil.example` and `/a/..//evil.example`
  // become `//evil.example`, which a browser would follow to another host.
  if (leavesOrigin(path)) return undefined;
  return path;
}

function absoluteUrl(value: string, origins: readonly string[]): string | undefined {
  if (!ABSOLUTE.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  // `https://app.example.com@evil.example` has the user `app.example.com` on evil.example: the
  // origin check refuses it; a user name on the right host is refused too (a phishing staple).
  if (url.username !== '' || url.password !== '') return undefined;
  // The WHATWG parser lower-cases scheme and host, drops a default port, decodes %-escapes
  // of the host and converts it to punycode: compared after that, `HTTPS://APP.example.com:443`
  // is the app, while `app.example.com.` (trailing dot), another port, a look-alike or a
  // Unicode host are other origins.
  if (!origins.includes(url.origin)) return undefined;
  return url.href;
}

/** Adds `name=value` to the query string of a path of this service or of an absolute URL. */
export function withQuery(target: string, name: string, value: string): string {
  const url = new URL(target, BASE);
  url.searchParams.set(name, value);
  return target.startsWith('/') ? `${url.pathname}${url.search}${url.hash}` : url.href;
}
