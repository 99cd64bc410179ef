import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * The one reader of the environment. `loadConfig(env)` validates every variable at once and
 * returns either typed config or the full list of problems, one line per problem, each naming
 * the variable and never echoing a secret's value.
 */

export const WEBVIEW_LANGS = ['en', 'fr', 'de', 'nl', 'pt', 'it', 'es'] as const;
export type WebviewLang = (typeof WEBVIEW_LANGS)[number];

export interface TokenKey {
  id: string;
  key: Buffer;
}

export type AuthConfig =
  | { mode: 'header'; header: string }
  | {
      mode: 'jwt';
      secret: Uint8Array | undefined;
      jwksUrl: URL | undefined;
      issuer: string | undefined;
      audience: string | undefined;
      cookie: string | undefined;
      /** Least time between two JWKS fetches triggered by an unknown key id. */
      jwksCooldownSeconds: number;
    }
  | { mode: 'demo' };

export type TrustProxy = boolean | number | string;

export interface RedisConfig {
  /** Absent only outside production: the demo then uses an in-memory store. */
  url: string | undefined;
  prefix: string;
  sentinels: { host: string; port: number }[];
  sentinelName: string | undefined;
  sentinelPassword: string | undefined;
  cluster: boolean;
  commandTimeoutMs: number;
  startupTimeoutMs: number;
}

export interface Config {
  production: boolean;
  nodeEnv: string;
  port: number;
  host: string;
  publicUrl: URL;
  /** PUBLIC_URL is https: cookies are Secure and `__Host-` prefixed. */
  secureCookies: boolean;
  powens: {
    domain: string;
    clientId: string;
    clientSecret: string;
    redirectUri: string;
    apiUrl: string;
    webviewUrl: string;
    webviewLang: WebviewLang | undefined;
    timeoutMs: number;
    retries: number;
  };
  redis: RedisConfig;
  sessionSecrets: string[];
  sessionTtlSeconds: number;
  tokenKeys: TokenKey[];
  auth: AuthConfig;
  appLoginUrl: string | undefined;
  corsOrigins: string[];
  trustProxy: TrustProxy;
  logLevel: string;
  webhookHmacSecret: string | undefined;
  /** Largest webhook body accepted, after gzip decompression too. */
  webhookBodyLimitBytes: number;
  rateLimit: { perIp: number; perUser: number };
  metricsToken: string | undefined;
  connectionsCacheTtlSeconds: number;
  shutdownTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Values generated because the variable was unset outside production; the caller warns. */
  generated: string[];
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function intVar(def: number, min: number, max: number) {
  return optional.pipe(
    z
      .string()
      .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(min, { message: `must be a whole number from ${min} to ${max}` })
          .max(max, { message: `must be a whole number from ${min} to ${max}` }),
      )
      .optional()
      .transform((v) => v ?? def),
  );
}

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function parseUrl(v: string): URL | undefined {
  try {
    return new URL(v);
  } catch {
    return undefined;
  }
}

/** An origin as browsers send it: scheme://host[:port], nothing else. */
function isOrigin(v: string): boolean {
  const u = parseUrl(v);
  return u !== undefined && (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === v;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const schema = z
  .object({
    NODE_ENV: optional,
    PORT: intVar(3000, 0, 65535),
    HOST: optional,
    PUBLIC_URL: optional,
    POWENS_DOMAIN: optional,
    POWENS_CLIENT_ID: optional,
    POWENS_CLIENT_SECRET: optional,
    POWENS_REDIRECT_URI: optional,
    POWENS_API_URL: optional,
    POWENS_WEBVIEW_URL: optional,
    POWENS_WEBVIEW_LANG: optional,
    POWENS_TIMEOUT_MS: intVar(5000, 100, 120000),
    POWENS_RETRIES: intVar(2, 0, 5),
    REDIS_URL: optional,
    REDIS_PREFIX: optional,
    REDIS_SENTINELS: optional,
    REDIS_SENTINEL_NAME: optional,
    REDIS_SENTINEL_PASSWORD: optional,
    REDIS_CLUSTER: optional,
    REDIS_COMMAND_TIMEOUT_MS: intVar(1000, 50, 60000),
    REDIS_STARTUP_TIMEOUT_MS: intVar(10000, 100, 300000),
    SESSION_SECRET: optional,
    SESSION_TTL_SECONDS: intVar(86400, 60, 31536000),
    TOKEN_ENCRYPTION_KEYS: optional,
    AUTH_MODE: optional,
    AUTH_HEADER: optional,
    AUTH_JWT_SECRET: optional,
    AUTH_JWKS_URL: optional,
    AUTH_JWT_ISSUER: optional,
    AUTH_JWT_AUDIENCE: optional,
    AUTH_JWT_COOKIE: optional,
    AUTH_JWKS_COOLDOWN_SECONDS: intVar(30, 0, 3600),
    APP_LOGIN_URL: optional,
    CORS_ORIGINS: optional,
    TRUST_PROXY: optional,
    LOG_LEVEL: optional,
    WEBHOOK_HMAC_SECRET: optional,
    WEBHOOK_BODY_LIMIT_BYTES: intVar(10 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    RATE_LIMIT_PER_IP: intVar(300, 0, 1000000),
    RATE_LIMIT_PER_USER: intVar(60, 0, 1000000),
    METRICS_TOKEN: optional,
    CONNECTIONS_CACHE_TTL_SECONDS: intVar(60, 0, 86400),
    SHUTDOWN_TIMEOUT_MS: intVar(8000, 0, 60000),
    // Up to an hour: some load balancers keep idle connections 610 s (Google Cloud).
    KEEP_ALIVE_TIMEOUT_MS: intVar(65000, 1000, 3_600_000),
  })
  .loose();

/** Every variable the service reads (documented one by one in .env.example). */
export const ENV_VARIABLES: readonly string[] = Object.keys(schema.shape);

export function loadConfig(env: Env): ConfigResult {
  const problems: string[] = [];
  let parsed = schema.safeParse(env);
  if (!parsed.success) {
    const bad = new Set<string>();
    for (const issue of parsed.error.issues) {
      // The message never includes the input value: zod's own messages for these checks do not.
      problems.push(`${issue.path.join('.')}: ${issue.message}`);
      bad.add(String(issue.path[0]));
    }
    // Every problem is listed at once, not only the malformed numbers: the checks below run on
    // the rest, with the defaults standing in for the variables already reported.
    parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([name]) => !bad.has(name))));
    if (!parsed.success) return { ok: false, problems };
  }
  const e = parsed.data;
  const problem = (name: string, text: string): void => {
    problems.push(`${name}: ${text}`);
  };
  const generated: string[] = [];

  const nodeEnv = e.NODE_ENV ?? 'development';
  const production = nodeEnv === 'production';
  /** An absolute http(s) URL; https in production (codes, secrets and tokens travel over these). */
  const checkServiceUrl = (name: string, value: string): void => {
    const u = parseUrl(value);
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) problem(name, 'must be an absolute http(s) URL');
    else if (u.username !== '' || u.password !== '') problem(name, 'must not carry credentials');
    else if (production && u.protocol !== 'https:') problem(name, 'must be https when NODE_ENV=production');
  };

  // PUBLIC_URL
  const port = e.PORT;
  let publicUrl = new URL(`http://localhost:${port === 0 ? 3000 : port}`);
  if (e.PUBLIC_URL === undefined) {
    if (production) problem('PUBLIC_URL', 'is required when NODE_ENV=production (the https URL browsers use)');
  } else {
    const u = parseUrl(e.PUBLIC_URL);
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      problem('PUBLIC_URL', 'must be an absolute http(s) URL such as https://bank.example.com');
    } else if (u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
      problem('PUBLIC_URL', 'must not carry a query, a fragment or credentials');
    } else {
      if (production && u.protocol !== 'https:') problem('PUBLIC_URL', 'must be https when NODE_ENV=production');
      publicUrl = u;
    }
  }
  const base = publicUrl.href.replace(/\/$/, '');

  // Powens
  let domain = '';
  if (e.POWENS_DOMAIN === undefined) {
    problem('POWENS_DOMAIN', 'is required (your Powens domain, e.g. acme-sandbox.biapi.pro)');
  } else {
    const d = e.POWENS_DOMAIN.toLowerCase();
    domain = d.includes('.') ? d : `${d}.biapi.pro`;
    if (!HOSTNAME.test(domain)) problem('POWENS_DOMAIN', 'must be a host name such as acme-sandbox.biapi.pro');
  }
  if (e.POWENS_CLIENT_ID === undefined) problem('POWENS_CLIENT_ID', 'is required (from the Powens console)');
  if (e.POWENS_CLIENT_SECRET === undefined) problem('POWENS_CLIENT_SECRET', 'is required (from the Powens console)');
  // Derived defaults are checked only when set explicitly: a default built from a bad
  // PUBLIC_URL or POWENS_DOMAIN would otherwise add a line naming a variable nobody set.
  const redirectUri = e.POWENS_REDIRECT_URI ?? `${base}/callback`;
  if (e.POWENS_REDIRECT_URI !== undefined) checkServiceUrl('POWENS_REDIRECT_URI', redirectUri);
  const apiUrl = (e.POWENS_API_URL ?? `https://${domain}/2.0`).replace(/\/+$/, '');
  if (e.POWENS_API_URL !== undefined) checkServiceUrl('POWENS_API_URL', apiUrl);
  const webviewUrl = (e.POWENS_WEBVIEW_URL ?? 'https://webview.powens.com').replace(/\/+$/, '');
  if (e.POWENS_WEBVIEW_URL !== undefined) checkServiceUrl('POWENS_WEBVIEW_URL', webviewUrl);
  let webviewLang: WebviewLang | undefined;
  if (e.POWENS_WEBVIEW_LANG !== undefined) {
    const l = e.POWENS_WEBVIEW_LANG.toLowerCase();
    if ((WEBVIEW_LANGS as readonly string[]).includes(l)) webviewLang = l as WebviewLang;
    else problem('POWENS_WEBVIEW_LANG', `must be one of ${WEBVIEW_LANGS.join(', ')}`);
  }

  const redis = redisSection(e, production, problem);

  // Session secrets
  let sessionSecrets = list(e.SESSION_SECRET);
  if (sessionSecrets.length === 0) {
    if (production) problem('SESSION_SECRET', 'is required when NODE_ENV=production (at least 32 characters)');
    else {
      sessionSecrets = [randomBytes(32).toString('base64url')];
      generated.push('SESSION_SECRET');
    }
  } else if (production && sessionSecrets.some((s) => s.length < 32)) {
    problem('SESSION_SECRET', 'every secret in the list must be at least 32 characters when NODE_ENV=production');
  }

  const tokenKeys = tokenKeysSection(e, production, problem, generated);

  // Auth
  const mode = e.AUTH_MODE ?? (production ? undefined : 'demo');
  let auth: AuthConfig = { mode: 'demo' };
  if (mode === undefined) {
    problem('AUTH_MODE', 'is required when NODE_ENV=production (header or jwt)');
  } else if (mode === 'header') {
    const header = (e.AUTH_HEADER ?? 'x-user-id').toLowerCase();
    if (!/^[a-z0-9-]{1,64}$/.test(header)) problem('AUTH_HEADER', 'must be an HTTP header name');
    auth = { mode: 'header', header };
  } else if (mode === 'jwt') {
    let jwksUrl: URL | undefined;
    if (e.AUTH_JWKS_URL !== undefined) {
      jwksUrl = parseUrl(e.AUTH_JWKS_URL);
      if (jwksUrl === undefined || (jwksUrl.protocol !== 'https:' && jwksUrl.protocol !== 'http:')) {
        problem('AUTH_JWKS_URL', 'must be an absolute http(s) URL');
        jwksUrl = undefined;
      } else if (production && jwksUrl.protocol !== 'https:') {
        problem('AUTH_JWKS_URL', 'must be https when NODE_ENV=production');
      }
    }
    if (e.AUTH_JWT_SECRET === undefined && e.AUTH_JWKS_URL === undefined) {
      problem('AUTH_MODE', 'jwt needs AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL');
    }
    if (e.AUTH_JWT_SECRET !== undefined && e.AUTH_JWKS_URL !== undefined) {
      problem('AUTH_JWT_SECRET', 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both');
    }
    if (e.AUTH_JWT_SECRET !== undefined && e.AUTH_JWT_SECRET.length < 32) {
      problem('AUTH_JWT_SECRET', 'must be at least 32 characters');
    }
    if (e.AUTH_JWT_COOKIE !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(e.AUTH_JWT_COOKIE)) {
      problem('AUTH_JWT_COOKIE', 'must be a cookie name');
    }
    auth = {
      mode: 'jwt',
      secret: e.AUTH_JWT_SECRET === undefined ? undefined : new TextEncoder().encode(e.AUTH_JWT_SECRET),
      jwksUrl,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      cookie: e.AUTH_JWT_COOKIE,
      jwksCooldownSeconds: e.AUTH_JWKS_COOLDOWN_SECONDS,
    };
  } else if (mode === 'demo') {
    if (production) problem('AUTH_MODE', 'demo is not allowed when NODE_ENV=production (use header or jwt)');
  } else {
    problem('AUTH_MODE', 'must be header, jwt or demo');
  }

  if (e.APP_LOGIN_URL !== undefined) {
    // `/\host` is read by browsers (and URL parsers) as `//host`: not a path of this origin.
    const isPath = /^\/(?![/\\])/.test(e.APP_LOGIN_URL);
    const u = isPath ? undefined : parseUrl(e.APP_LOGIN_URL);
    if (!isPath && (u === undefined || (u.protocol !== 'https:' && u.protocol !== 'http:'))) {
      problem('APP_LOGIN_URL', 'must be an absolute http(s) URL or a path starting with /');
    }
  }

  const corsOrigins = list(e.CORS_ORIGINS);
  for (const o of corsOrigins) {
    if (!isOrigin(o)) {
      problem('CORS_ORIGINS', 'must be a comma-separated list of origins such as https://app.example.com (no path, no trailing slash)');
      break;
    }
  }

  let trustProxy: TrustProxy = false;
  if (e.TRUST_PROXY !== undefined) {
    const t = e.TRUST_PROXY;
    if (t === 'true') trustProxy = true;
    else if (t === 'false') trustProxy = false;
    else if (/^\d+$/.test(t)) trustProxy = Number(t);
    else if (/^[0-9A-Za-z.:/, _-]+$/.test(t)) trustProxy = t;
    else problem('TRUST_PROXY', 'must be true, false, a hop count, or a list of addresses/subnets (loopback, 10.0.0.0/8, ...)');
  }

  const logLevel = (e.LOG_LEVEL ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) problem('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  if (e.WEBHOOK_HMAC_SECRET !== undefined && e.WEBHOOK_HMAC_SECRET.length < 16) {
    problem('WEBHOOK_HMAC_SECRET', 'must be at least 16 characters');
  }
  if (e.METRICS_TOKEN !== undefined && e.METRICS_TOKEN.length < 16) {
    problem('METRICS_TOKEN', 'must be at least 16 characters');
  }
  // The drain, then up to 500 ms for queued webhook work and 300 ms for Redis QUIT: 10 s in all.
  if (e.SHUTDOWN_TIMEOUT_MS > 9000) {
    problem('SHUTDOWN_TIMEOUT_MS', 'must be at most 9000 so the process exits within 10 seconds');
  }

  if (problems.length > 0) return { ok: false, problems };

  return {
    ok: true,
    config: {
      production,
      nodeEnv,
      port,
      host: e.HOST ?? '0.0.0.0',
      publicUrl,
      secureCookies: publicUrl.protocol === 'https:',
      powens: {
        domain,
        clientId: e.POWENS_CLIENT_ID ?? '',
        clientSecret: e.POWENS_CLIENT_SECRET ?? '',
        redirectUri,
        apiUrl,
        webviewUrl,
        webviewLang,
        timeoutMs: e.POWENS_TIMEOUT_MS,
        retries: e.POWENS_RETRIES,
      },
      redis,
      sessionSecrets,
      sessionTtlSeconds: e.SESSION_TTL_SECONDS,
      tokenKeys,
      auth,
      appLoginUrl: e.APP_LOGIN_URL,
      corsOrigins,
      trustProxy,
      logLevel,
      webhookHmacSecret: e.WEBHOOK_HMAC_SECRET,
      webhookBodyLimitBytes: e.WEBHOOK_BODY_LIMIT_BYTES,
      rateLimit: { perIp: e.RATE_LIMIT_PER_IP, perUser: e.RATE_LIMIT_PER_USER },
      metricsToken: e.METRICS_TOKEN,
      connectionsCacheTtlSeconds: e.CONNECTIONS_CACHE_TTL_SECONDS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
      generated,
    },
  };
}

type Parsed = z.infer<typeof schema>;
type Problem = (name: string, text: string) => void;

const STORAGE_VARIABLES = {
  NODE_ENV: true,
  REDIS_URL: true,
  REDIS_PREFIX: true,
  REDIS_SENTINELS: true,
  REDIS_SENTINEL_NAME: true,
  REDIS_SENTINEL_PASSWORD: true,
  REDIS_CLUSTER: true,
  REDIS_COMMAND_TIMEOUT_MS: true,
  REDIS_STARTUP_TIMEOUT_MS: true,
  TOKEN_ENCRYPTION_KEYS: true,
} as const;

type StorageEnv = Pick<Parsed, keyof typeof STORAGE_VARIABLES>;

function redisSection(e: StorageEnv, requireUrl: boolean, problem: Problem): RedisConfig {
  if (e.REDIS_URL === undefined && requireUrl) problem('REDIS_URL', 'is required when NODE_ENV=production');
  if (e.REDIS_URL !== undefined) {
    const r = parseUrl(e.REDIS_URL);
    if (r === undefined || (r.protocol !== 'redis:' && r.protocol !== 'rediss:')) {
      problem('REDIS_URL', 'must be a redis:// or rediss:// URL');
    }
  }
  const sentinels: { host: string; port: number }[] = [];
  for (const s of list(e.REDIS_SENTINELS)) {
    const m = /^(.+):(\d{1,5})$/.exec(s);
    if (m === null || Number(m[2]) > 65535) {
      problem('REDIS_SENTINELS', 'must be a comma-separated list of host:port');
      break;
    }
    sentinels.push({ host: m[1] ?? '', port: Number(m[2]) });
  }
  if (sentinels.length > 0 && e.REDIS_SENTINEL_NAME === undefined) {
    problem('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS (the monitored master name)');
  }
  const cluster = e.REDIS_CLUSTER !== undefined && ['1', 'true', 'yes'].includes(e.REDIS_CLUSTER.toLowerCase());
  if (e.REDIS_CLUSTER !== undefined && !['0', '1', 'true', 'false', 'yes', 'no'].includes(e.REDIS_CLUSTER.toLowerCase())) {
    problem('REDIS_CLUSTER', 'must be true or false');
  }
  if (cluster && sentinels.length > 0) problem('REDIS_CLUSTER', 'cannot be combined with REDIS_SENTINELS');
  const prefix = e.REDIS_PREFIX ?? 'powens-bff:';
  if (!/^[A-Za-z0-9:_.{}-]{1,64}$/.test(prefix)) {
    problem('REDIS_PREFIX', 'must be 1 to 64 characters among letters, digits and : _ . - { }');
  } else if (!wholeHashTag(prefix)) {
    // Redis Cluster hashes the text between the key's first `{` and the next `}`. A prefix with
    // a `{` not closed by a non-empty tag would make that span differ between the keys one
    // script or transaction writes together (a user's cache, lock and generation): CROSSSLOT.
    problem('REDIS_PREFIX', 'a `{` must open a non-empty hash tag closed by `}` within the prefix, e.g. {bff}:');
  }
  return {
    url: e.REDIS_URL,
    prefix,
    sentinels,
    sentinelName: e.REDIS_SENTINEL_NAME,
    sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    cluster,
    commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    startupTimeoutMs: e.REDIS_STARTUP_TIMEOUT_MS,
  };
}

/** No `{`, or the first `{` starts a non-empty `{tag}` inside the prefix (then every key has that tag). */
function wholeHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  return open === -1 || prefix.indexOf('}', open + 1) > open + 1;
}

/** `generated` is undefined when a missing value must be a problem rather than a random key. */
function tokenKeysSection(e: StorageEnv, production: boolean, problem: Problem, generated: string[] | undefined): TokenKey[] {
  if (e.TOKEN_ENCRYPTION_KEYS === undefined) {
    if (production || generated === undefined) {
      problem('TOKEN_ENCRYPTION_KEYS', `is required${production ? ' when NODE_ENV=production' : ''} (keyId:base64 of 32 bytes)`);
      return [];
    }
    generated.push('TOKEN_ENCRYPTION_KEYS');
    return [{ id: 'dev', key: randomBytes(32) }];
  }
  const parsedKeys = parseTokenKeys(e.TOKEN_ENCRYPTION_KEYS);
  if (typeof parsedKeys === 'string') {
    problem('TOKEN_ENCRYPTION_KEYS', parsedKeys);
    return [];
  }
  return parsedKeys;
}

export interface StorageConfig {
  redis: RedisConfig;
  tokenKeys: TokenKey[];
}

export type StorageConfigResult = { ok: true; config: StorageConfig } | { ok: false; problems: string[] };

/**
 * Only what offline tools on the stored data need (`npm run rotate-keys`): Redis and the token
 * keys, parsed exactly as loadConfig parses them, without requiring the POWENS_* variables.
 * Stricter than loadConfig in one way: REDIS_URL and TOKEN_ENCRYPTION_KEYS are always required,
 * since a random development key would make every re-sealed token unreadable.
 */
export function loadStorageConfig(env: Env): StorageConfigResult {
  const parsed = schema.pick(STORAGE_VARIABLES).safeParse(env);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) };
  }
  const e = parsed.data;
  const problems: string[] = [];
  const problem: Problem = (name, text) => {
    problems.push(`${name}: ${text}`);
  };
  const production = (e.NODE_ENV ?? 'development') === 'production';
  if (e.REDIS_URL === undefined) problem('REDIS_URL', 'is required (the Redis that holds the tokens)');
  const redis = redisSection(e, false, problem);
  const tokenKeys = tokenKeysSection(e, production, problem, undefined);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: { redis, tokenKeys } };
}

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

/** Human-readable list of problems, as printed at start-up. */
export function formatProblems(problems: string[]): string {
  return ['Configuration is not valid:', ...problems.map((p) => `  - ${p}`)].join('\n');
}
