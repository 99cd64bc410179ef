import { isIP } from 'node:net';
import { z } from 'zod';
import { AUTH_MODES, LOG_LEVELS, TRACE_SAMPLERS, WEBVIEW_LANGS, type TokenKey, type TrustProxy } from './types.js';

/**
 * The types of single variables: each takes the trimmed, non-empty text of one variable and
 * returns its typed value or an issue whose message names the rule, never the value (so no
 * secret is ever echoed). Unset and blank are handled before (see `field` in ./variables.ts).
 *
 * No size check (`.max()`, `.length()`) on strings or arrays here: zod 4 marks an oversized
 * input's issue as aborting, and an aborting issue stops every object-level rule, `when` or
 * not; the lengths are checked by regexes and refinements instead.
 */

export function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseUrl(v: string): URL | undefined {
  try {
    return new URL(v);
  } catch {
    return undefined;
  }
}

function isHttp(u: URL | undefined): u is URL {
  return u !== undefined && (u.protocol === 'http:' || u.protocol === 'https:');
}

/** A URL string already known to parse: is it https? */
export function isHttps(v: string): boolean {
  return parseUrl(v)?.protocol === 'https:';
}

/** An origin as browsers send it: scheme://host[:port], nothing else. */
function isOrigin(v: string): boolean {
  const u = parseUrl(v);
  return isHttp(u) && u.origin === v;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** One issue with `message`, then z.NEVER: the shape of every failing transform below. */
function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

export const text = () => z.string();

/** Whole number within [min, max]; one message for every way of missing it. */
export function int(min: number, max: number) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .refine((v) => /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max, { message })
    .transform(Number);
}

/** Lower-cased, one of `values`. */
export function oneOf<const T extends readonly string[]>(values: T, message = `must be one of ${values.join(', ')}`) {
  return z
    .string()
    .transform((v) => v.toLowerCase())
    .refine((v): v is T[number] => values.includes(v), { message })
    .transform((v) => v as T[number]);
}

/** An IANA time zone Intl knows (`Europe/Paris`, `UTC`), by its canonical name. */
export function timeZone() {
  return z.string().transform((v, ctx) => {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: v }).resolvedOptions().timeZone;
    } catch {
      return fail(ctx, 'must be an IANA time zone such as Europe/Paris or UTC');
    }
  });
}

export const logLevel = () => oneOf(LOG_LEVELS);
export const webviewLang = () => oneOf(WEBVIEW_LANGS);
export const traceSampler = () => oneOf(TRACE_SAMPLERS);
export const authMode = () =>
  z.string().refine((v): v is (typeof AUTH_MODES)[number] => (AUTH_MODES as readonly string[]).includes(v), {
    message: 'must be header, jwt or demo',
  });

/** Where the browser comes back to, or a Powens base URL: an absolute http(s) URL without credentials. */
export function serviceUrl({ trimSlashes }: { trimSlashes: boolean }) {
  return z.string().transform((raw, ctx) => {
    const v = trimSlashes ? raw.replace(/\/+$/, '') : raw;
    const u = parseUrl(v);
    if (!isHttp(u)) return fail(ctx, 'must be an absolute http(s) URL');
    if (u.username !== '' || u.password !== '') return fail(ctx, 'must not carry credentials');
    return v;
  });
}

export function publicUrl() {
  return z.string().transform((v, ctx) => {
    const u = parseUrl(v);
    if (!isHttp(u)) return fail(ctx, 'must be an absolute http(s) URL such as https://bank.example.com');
    if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
      return fail(ctx, 'must not carry a query, a fragment or credentials');
    }
    return u;
  });
}

/** An absolute http(s) URL (AUTH_JWKS_URL; checked only in jwt mode, by a rule). */
export function httpUrl(v: string): URL | undefined {
  const u = parseUrl(v);
  return isHttp(u) ? u : undefined;
}

/** A bare name means <name>.biapi.pro. */
export function powensDomain() {
  return z.string().transform((v, ctx) => {
    const d = v.toLowerCase();
    const domain = d.includes('.') ? d : `${d}.biapi.pro`;
    return HOSTNAME.test(domain) ? domain : fail(ctx, 'must be a host name such as acme-sandbox.biapi.pro');
  });
}

export function redisUrl() {
  return z.string().refine(
    (v) => {
      const r = parseUrl(v);
      return r !== undefined && (r.protocol === 'redis:' || r.protocol === 'rediss:');
    },
    { message: 'must be a redis:// or rediss:// URL' },
  );
}

/** No `{`, or the first `{` starts a non-empty `{tag}` inside the prefix (then every key has that tag). */
function wholeHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open === -1 || prefix.indexOf('}', open + 1) > open + 1;
}

export function redisPrefix() {
  return z.string().transform((v, ctx) => {
    if (!/^[A-Za-z0-9:_.{}-]{1,64}$/.test(v)) return fail(ctx, 'must be 1 to 64 characters among letters, digits and : _ . - { }');
    // Redis Cluster hashes the text between the key's first `{` and the next `}`. A prefix with
    // a `{` not closed by a non-empty tag would make that span differ between the keys one
    // script or transaction writes together (a user's cache, lock and generation): CROSSSLOT.
    if (!wholeHashTag(v)) return fail(ctx, 'a `{` must open a non-empty hash tag closed by `}` within the prefix, e.g. {bff}:');
    return v;
  });
}

export function hostPorts() {
  return z.string().transform((v, ctx) => {
    const out: { host: string; port: number }[] = [];
    for (const s of list(v)) {
      const m = /^(.+):(\d{1,5})$/.exec(s);
      if (m === null || Number(m[2]) > 65535) return fail(ctx, 'must be a comma-separated list of host:port');
      out.push({ host: m[1] ?? '', port: Number(m[2]) });
    }
    return out;
  });
}

/** An OTLP/HTTP receiver: an http(s) URL without credentials (those go in OTEL_EXPORTER_OTLP_HEADERS). */
export function otlpUrl() {
  return z.string().transform((v, ctx) => {
    const u = parseUrl(v);
    if (!isHttp(u)) return fail(ctx, 'must be an http or https URL');
    if (u.username !== '' || u.password !== '') return fail(ctx, 'must not carry credentials (put them in OTEL_EXPORTER_OTLP_HEADERS)');
    return u.href;
  });
}

/**
 * `key=value,key=value`, values URL-encoded: the W3C Baggage-like list of OTEL_EXPORTER_OTLP_HEADERS
 * and OTEL_RESOURCE_ATTRIBUTES (OpenTelemetry, "Environment Variable Specification").
 */
export function keyValues() {
  return z.string().transform((v, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of list(v)) {
      const eq = pair.indexOf('=');
      const key = eq > 0 ? pair.slice(0, eq).trim() : '';
      if (!/^[A-Za-z0-9._-]+$/.test(key)) return fail(ctx, 'must be key=value pairs separated by commas');
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1).trim());
      } catch {
        return fail(ctx, 'must be key=value pairs separated by commas, values URL-encoded');
      }
      out[key] = value;
    }
    return out;
  });
}

/** A number from 0 to 1. */
export function ratio() {
  return z
    .string()
    .refine((v) => /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(v), { message: 'must be a number from 0 to 1' })
    .transform(Number);
}

export function bool() {
  return z.string().transform((v, ctx) => {
    const l = v.toLowerCase();
    if (!['0', '1', 'true', 'false', 'yes', 'no'].includes(l)) return fail(ctx, 'must be true or false');
    return ['1', 'true', 'yes'].includes(l);
  });
}

/** Comma-separated secrets, blanks dropped; an empty list counts as unset (see the rules). */
export const secretList = () => z.string().transform((v) => list(v));

/** At least `min` characters (a secret's value is never in the message). */
export const secret = (min: number) => z.string().refine((v) => v.length >= min, { message: `must be at least ${min} characters` });

/** `keyId:base64-32-bytes,...`; returns a problem text (never containing key material) or the keys. */
export function parseTokenKeys(value: string): TokenKey[] | string {
  const keys: TokenKey[] = [];
  const entries = list(value);
  if (entries.length === 0) return 'must list at least one keyId:base64 key';
  for (const [i, entry] of entries.entries()) {
    const sep = entry.indexOf(':');
    const id = sep > 0 ? entry.slice(0, sep) : '';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      return `entry ${i + 1} must start with a key id of letters, digits, _ or - followed by ':'`;
    }
    const material = entry.slice(sep + 1);
    const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(material) ? Buffer.from(material, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) return `key "${id}" must be the base64 encoding of exactly 32 bytes`;
    if (keys.some((k) => k.id === id)) return `key id "${id}" appears twice`;
    keys.push({ id, key });
  }
  return keys;
}

export function tokenKeys() {
  return z.string().transform((v, ctx) => {
    const keys = parseTokenKeys(v);
    return typeof keys === 'string' ? fail(ctx, keys) : keys;
  });
}

export function originList() {
  return z.string().transform((v, ctx) => {
    const origins = list(v);
    if (!origins.every(isOrigin)) {
      return fail(ctx, 'must be a comma-separated list of origins such as https://app.example.com (no path, no trailing slash)');
    }
    return origins;
  });
}

/** An absolute http(s) URL or a path of this service. */
export function loginUrl() {
  return z.string().refine(
    // `/\host` is read by browsers (and URL parsers) as `//host`: not a path of this origin.
    (v) => /^\/(?![/\\])/.test(v) || isHttp(parseUrl(v)),
    { message: 'must be an absolute http(s) URL or a path starting with /' },
  );
}

/** proxy-addr's named ranges, which Express's `trust proxy` accepts besides addresses and subnets. */
const TRUST_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * One entry of a TRUST_PROXY list as Express compiles it (proxy-addr): a named range, an
 * address, or an address with a prefix length (`10.0.0.0/8`) or an IPv4 netmask
 * (`10.0.0.0/255.0.0.0`). Stricter than proxy-addr (no `127.1` shorthand), never looser, so a
 * value that passes here cannot fail later with "invalid IP address".
 */
export function isTrustEntry(entry: string): boolean {
  if (TRUST_RANGES.includes(entry)) return true;
  const slash = entry.lastIndexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0 || address.includes('%')) return false;
  if (slash === -1) return true;
  const range = entry.slice(slash + 1);
  // proxy-addr refuses a range of 0 (`/0`, `0.0.0.0`): it would trust every address.
  if (/^\d{1,3}$/.test(range)) return Number(range) >= 1 && Number(range) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(range) === 4 && isNetmask(range);
}

/** A dotted IPv4 netmask: ones then zeros. */
function isNetmask(mask: string): boolean {
  const bits = mask
    .split('.')
    .map((n) => Number(n).toString(2).padStart(8, '0'))
    .join('');
  return /^1+0*$/.test(bits);
}

/**
 * `true`, `false`, a hop count, or a comma-separated list of addresses, subnets and named
 * ranges, each checked here (a typo such as `yes` would otherwise pass and make Express throw
 * at start-up with "invalid IP address", naming no variable).
 */
export function trustProxy() {
  return z.string().transform((raw, ctx): TrustProxy => {
    const t = raw.toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
    if (/^\d+$/.test(t)) return Number(t);
    const entries = t.split(',').map((e) => e.trim());
    if (entries.every((e) => e !== '' && isTrustEntry(e))) return entries.join(', ');
    return fail(
      ctx,
      'must be true, false, a hop count, or a comma-separated list of addresses, subnets or loopback, linklocal, uniquelocal (e.g. 10.0.0.5, 10.1.0.0/16)',
    );
  });
}

/** NODE_ENV: a value outside these (`prod`, `Production`) would silently skip every production check. */
export const NODE_ENVS = ['production', 'development', 'test'] as const;
export function nodeEnv() {
  return z.string().refine((v): v is (typeof NODE_ENVS)[number] => (NODE_ENVS as readonly string[]).includes(v), {
    message: `must be one of ${NODE_ENVS.join(', ')} (another value would silently skip the production checks)`,
  });
}

/** A listen address: an IP address or a host name. */
export function listenHost() {
  return z.string().refine((v) => isIP(v) !== 0 || HOSTNAME.test(v), { message: 'must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name' });
}

/**
 * The `<...>` placeholders of .env.example (`<client id from the Powens console>`): words in
 * angle brackets. A copied example left unfilled must stop start-up, whatever the mode, rather
 * than be sent to Powens or used as a secret. Real secrets hold no `<word ...>` run.
 */
export function isPlaceholder(v: string): boolean {
  return /<[A-Za-z][^<>]* [^<>]*>/.test(v);
}
