import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { applyRules, authMode, DEMO_RULES, isProduction, SERVICE_RULES, STORAGE_RULES } from './rules.js';
import type { AuthConfig, Config, ConfigResult, DemoConfigResult, Env, RedisConfig, StorageConfigResult, TokenKey, TracingConfig } from './types.js';
import { httpUrl } from './values.js';
import { DEMO_DEFAULTS, DEMO_VARIABLES, requiredMessage, SERVICE_VARIABLES, type ServiceName, type Variable } from './variables.js';

/**
 * The loaders: one schema per profile, built from the declarations in ./variables.ts and the
 * rules in ./rules.ts. A loader returns the typed configuration, or every problem at once, one
 * line per problem (`NAME: what is wrong`), never with a secret's value.
 */

type Fields<V extends Record<string, Variable>> = { [K in keyof V]: V[K]['field'] };

function fields<V extends Record<string, Variable>>(variables: V): Fields<V> {
  return Object.fromEntries(Object.entries(variables).map(([name, v]) => [name, v.field])) as Fields<V>;
}

const serviceFields = fields(SERVICE_VARIABLES);
const serviceObject = z.object(serviceFields);
type Parsed = z.output<typeof serviceObject>;

/** Every variable the service reads (each documented in .env.example and the README). */
export const ENV_VARIABLES: readonly string[] = Object.keys(SERVICE_VARIABLES);

const SECRET_NAMES = [...Object.entries(SERVICE_VARIABLES), ...Object.entries(DEMO_VARIABLES)].filter(([, v]) => v.secret === true).map(([name]) => name);

/**
 * Issues to problem lines. The messages are this module's own and name rules, not values; as a
 * second guard, a secret's value (or one entry of a secret list) of 8 characters or more never
 * survives into a line.
 */
function problemsOf(error: z.ZodError, env: Env): string[] {
  const secrets = SECRET_NAMES.flatMap((name) => {
    const v = env[name]?.trim() ?? '';
    return [v, ...v.split(',').map((s) => s.trim())].filter((s) => s.length >= 8);
  });
  return error.issues.map((issue) => {
    let line = `${issue.path.join('.')}: ${issue.message}`;
    for (const s of secrets) line = line.split(s).join('[secret]');
    return line;
  });
}

function redisConfig(e: Pick<Parsed, Extract<ServiceName, `REDIS_${string}`>>): RedisConfig {
  return {
    url: e.REDIS_URL,
    prefix: e.REDIS_PREFIX,
    sentinels: e.REDIS_SENTINELS ?? [],
    sentinelName: e.REDIS_SENTINEL_NAME,
    sentinelPassword: e.REDIS_SENTINEL_PASSWORD,
    cluster: e.REDIS_CLUSTER,
    commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    startupTimeoutMs: e.REDIS_STARTUP_TIMEOUT_MS,
    minReplicas: e.REDIS_MIN_REPLICAS,
  };
}

/**
 * Tracing is off by default: on with OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint, off again
 * with OTEL_TRACES_EXPORTER=none, and OTEL_SDK_DISABLED=true wins over everything. A signal's own
 * endpoint is used as it is; the base endpoint gets `v1/traces` (OpenTelemetry, "OTLP Exporter
 * Configuration").
 */
function tracingConfig(e: Pick<Parsed, Extract<ServiceName, `OTEL_${string}`>>): TracingConfig {
  const endpoint = e.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesEndpoint = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const exporter = e.OTEL_TRACES_EXPORTER ?? (endpoint !== undefined || tracesEndpoint !== undefined ? 'otlp' : 'none');
  if (e.OTEL_SDK_DISABLED || exporter === 'none') return { enabled: false };
  const base = endpoint ?? 'http://localhost:4318/';
  return {
    enabled: true,
    url: tracesEndpoint ?? `${base.endsWith('/') ? base : `${base}/`}v1/traces`,
    protocol: e.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: e.OTEL_EXPORTER_OTLP_HEADERS ?? {},
    compression: e.OTEL_EXPORTER_OTLP_COMPRESSION,
    timeoutMs: e.OTEL_EXPORTER_OTLP_TIMEOUT,
    serviceName: e.OTEL_SERVICE_NAME,
    resourceAttributes: e.OTEL_RESOURCE_ATTRIBUTES ?? {},
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG,
  };
}

/** Runs only on an environment that passed every rule: the defaults computed from other variables. */
function toConfig(e: Parsed): Config {
  const nodeEnv = e.NODE_ENV;
  const production = isProduction(nodeEnv);
  const generated: string[] = [];
  const publicUrl = e.PUBLIC_URL ?? new URL(`http://localhost:${e.PORT === 0 ? 3000 : e.PORT}`);
  const base = publicUrl.href.replace(/\/$/, '');

  let sessionSecrets = e.SESSION_SECRET ?? [];
  if (sessionSecrets.length === 0) {
    sessionSecrets = [randomBytes(32).toString('base64url')];
    generated.push('SESSION_SECRET');
  }
  let tokenKeys: TokenKey[] | undefined = e.TOKEN_ENCRYPTION_KEYS;
  if (tokenKeys === undefined) {
    tokenKeys = [{ id: 'dev', key: randomBytes(32) }];
    generated.push('TOKEN_ENCRYPTION_KEYS');
  }

  const mode = authMode(e);
  let auth: AuthConfig = { mode: 'demo' };
  if (mode === 'header') auth = { mode: 'header', header: e.AUTH_HEADER.toLowerCase() };
  else if (mode === 'jwt') {
    auth = {
      mode: 'jwt',
      secret: e.AUTH_JWT_SECRET === undefined ? undefined : new TextEncoder().encode(e.AUTH_JWT_SECRET),
      jwksUrl: e.AUTH_JWKS_URL === undefined ? undefined : httpUrl(e.AUTH_JWKS_URL),
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
      cookie: e.AUTH_JWT_COOKIE,
      jwksCooldownSeconds: e.AUTH_JWKS_COOLDOWN_SECONDS,
    };
  }

  return {
    production,
    nodeEnv,
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    secureCookies: publicUrl.protocol === 'https:',
    powens: {
      domain: e.POWENS_DOMAIN,
      clientId: e.POWENS_CLIENT_ID,
      clientSecret: e.POWENS_CLIENT_SECRET,
      redirectUri: e.POWENS_REDIRECT_URI ?? `${base}/callback`,
      apiUrl: e.POWENS_API_URL ?? `https://${e.POWENS_DOMAIN}/2.0`,
      webviewUrl: e.POWENS_WEBVIEW_URL,
      webviewLang: e.POWENS_WEBVIEW_LANG,
      timeoutMs: e.POWENS_TIMEOUT_MS,
      retries: e.POWENS_RETRIES,
      timeZone: e.POWENS_TIMEZONE,
      pools: {
        exchange: e.POWENS_MAX_CONCURRENT_EXCHANGES,
        codes: e.POWENS_MAX_CONCURRENT_CODES,
        lists: e.POWENS_MAX_CONCURRENT_LISTS,
        deletes: e.POWENS_MAX_CONCURRENT_DELETES,
      },
    },
    redis: redisConfig(e),
    linkMode: e.POWENS_LINK_MODE,
    sessionSecrets,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    tokenKeys,
    auth,
    appLoginUrl: e.APP_LOGIN_URL,
    corsOrigins: e.CORS_ORIGINS ?? [],
    // Derived from CORS_ORIGINS, an http origin is left out in production rather than refused:
    // CORS_ORIGINS itself accepts one there.
    returnToOrigins: e.RETURN_TO_ORIGINS ?? (e.CORS_ORIGINS ?? []).filter((o) => !production || o.startsWith('https:')),
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    webhookHmacSecret: e.WEBHOOK_HMAC_SECRET,
    webhookBodyLimitBytes: e.WEBHOOK_BODY_LIMIT_BYTES,
    webhookMaxAgeSeconds: e.WEBHOOK_MAX_AGE_S,
    webhookMaxBodiesInFlight: e.WEBHOOK_MAX_BODIES_IN_FLIGHT,
    webhookRateLimitPerIp: e.RATE_LIMIT_WEBHOOK_PER_IP,
    rateLimit: { perIp: e.RATE_LIMIT_PER_IP, perUser: e.RATE_LIMIT_PER_USER },
    metricsToken: e.METRICS_TOKEN,
    gitCommit: e.GIT_COMMIT,
    connectionsCacheTtlSeconds: e.CONNECTIONS_CACHE_TTL_SECONDS,
    consentWarningDays: e.CONSENT_WARNING_DAYS,
    connectorsCacheTtlSeconds: e.CONNECTORS_CACHE_TTL_SECONDS,
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    maxConnections: e.MAX_CONNECTIONS,
    tracing: tracingConfig(e),
    generated,
  };
}

/** The service (src/main.ts): every variable, the service's rules. */
export const serviceSchema = applyRules(serviceObject, SERVICE_RULES).transform(toConfig);

export function loadConfig(env: Env): ConfigResult {
  const parsed = serviceSchema.safeParse(env);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, problems: problemsOf(parsed.error, env) };
}

const STORAGE_NAMES = [
  'NODE_ENV',
  'REDIS_URL',
  'REDIS_PREFIX',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER',
  'REDIS_COMMAND_TIMEOUT_MS',
  'REDIS_STARTUP_TIMEOUT_MS',
  'REDIS_MIN_REPLICAS',
  'TOKEN_ENCRYPTION_KEYS',
] as const satisfies readonly ServiceName[];

const storageObject = serviceObject.pick(Object.fromEntries(STORAGE_NAMES.map((n) => [n, true])) as { [K in (typeof STORAGE_NAMES)[number]]: true });

/** Offline tools on the stored data (`npm run rotate-keys`): Redis and the token keys only. */
export const storageSchema = applyRules(storageObject, STORAGE_RULES).transform((e) => ({
  redis: redisConfig(e),
  // Present: a rule requires it.
  tokenKeys: e.TOKEN_ENCRYPTION_KEYS ?? [],
}));

/**
 * Only what offline tools on the stored data need (`npm run rotate-keys`): Redis and the token
 * keys, parsed exactly as loadConfig parses them, without requiring the POWENS_* variables.
 * Stricter than loadConfig in one way: REDIS_URL and TOKEN_ENCRYPTION_KEYS are always required,
 * since a random development key would make every re-sealed token unreadable.
 */
export function loadStorageConfig(env: Env): StorageConfigResult {
  const parsed = storageSchema.safeParse(env);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, problems: problemsOf(parsed.error, env) };
}

/** TOKEN_ENCRYPTION_KEYS alone, and always required: no development key stands in for it here. */
const tokenKeysObject = serviceObject.pick({ TOKEN_ENCRYPTION_KEYS: true }).superRefine((e, ctx) => {
  if (e.TOKEN_ENCRYPTION_KEYS === undefined || e.TOKEN_ENCRYPTION_KEYS.length === 0)
    ctx.addIssue({ code: 'custom', path: ['TOKEN_ENCRYPTION_KEYS'], message: requiredMessage(SERVICE_VARIABLES.TOKEN_ENCRYPTION_KEYS, false) });
});

/**
 * Only TOKEN_ENCRYPTION_KEYS, parsed as loadConfig parses it and always required (a random
 * development key would give references that match nothing): `npm run user-ref`.
 */
export function loadTokenKeys(env: Env): { ok: true; tokenKeys: TokenKey[] } | { ok: false; problems: string[] } {
  const parsed = tokenKeysObject.safeParse(env);
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error, env) };
  // The refinement above has ruled out a missing or empty list.
  return { ok: true, tokenKeys: parsed.data.TOKEN_ENCRYPTION_KEYS ?? [] };
}

export const DEMO_CLIENT_ID = 'demo-client';

const demoObject = serviceObject.extend(fields(DEMO_VARIABLES));

function blank(v: string | undefined): boolean {
  return v === undefined || v.trim() === '';
}

/**
 * `npm run demo`: the service against the Powens emulator the demo starts, every problem of
 * both at once. Reads EMULATOR_PORT besides the service's variables; see DEMO_DEFAULTS for the
 * defaults it changes. The client, its secret (random per run) and the Powens URLs are the
 * emulator's, whatever the environment says; AUTH_MODE is demo. demo/main.ts is its caller.
 */
export function loadDemoConfig(env: Env): DemoConfigResult {
  const clientSecret = randomBytes(24).toString('base64url');
  const demoEnv: Env = { ...env };
  for (const [name, value] of Object.entries(DEMO_DEFAULTS)) if (blank(demoEnv[name])) demoEnv[name] = value;
  Object.assign(demoEnv, {
    AUTH_MODE: 'demo',
    POWENS_CLIENT_ID: DEMO_CLIENT_ID,
    POWENS_CLIENT_SECRET: clientSecret,
    // Set below from EMULATOR_PORT, once it is known to be valid.
    POWENS_API_URL: undefined,
    POWENS_WEBVIEW_URL: undefined,
  });
  const schema = applyRules(demoObject, [...DEMO_RULES, ...SERVICE_RULES]).transform((e) => {
    const service = toConfig(e);
    const emulatorUrl = `http://127.0.0.1:${e.EMULATOR_PORT}`;
    // Browsers are sent to localhost, the name the service's own URL uses by default.
    const publicUrl = `http://localhost:${e.EMULATOR_PORT}`;
    service.powens.apiUrl = `${emulatorUrl}/2.0`;
    service.powens.webviewUrl = publicUrl;
    return {
      service,
      emulator: {
        port: e.EMULATOR_PORT,
        host: '127.0.0.1',
        publicUrl,
        domain: service.powens.domain,
        clients: [{ clientId: DEMO_CLIENT_ID, clientSecret, redirectUris: [service.powens.redirectUri] }],
        timeZone: service.powens.timeZone,
      },
    };
  });
  const parsed = schema.safeParse(demoEnv);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, problems: problemsOf(parsed.error, env) };
}

/** Human-readable list of problems, as printed at start-up. */
export function formatProblems(problems: string[]): string {
  return ['Configuration is not valid:', ...problems.map((p) => `  - ${p}`)].join('\n');
}
