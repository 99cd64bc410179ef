import { z } from 'zod';
import * as t from './values.js';

/**
 * Every environment variable, declared once: its type (the per-variable rules), default,
 * description, example, whether it is secret and where it is documented. The loaders
 * (./load.ts) build their schemas from these declarations, and `npm run docs:env` renders the
 * README table and `.env.example` from them (tools/env-table.ts); test/unit/env-docs.test.ts fails when
 * either file disagrees. Rules between variables are in ./rules.ts.
 *
 * Names and defaults are a contract with every deployment: never rename a variable or change a
 * default here without a migration note.
 */

export const SECTIONS = [
  'Service',
  'Powens',
  'Redis',
  'Sessions & tokens',
  'Auth',
  'Browser & CORS',
  'Webhooks',
  'Rate limits',
  'Operations',
  'Tracing',
  'Emulator and demo',
] as const;
export type Section = (typeof SECTIONS)[number];

/** A variable's type: from its trimmed, non-empty text to its value. */
type Type = z.ZodType<unknown, string>;

export interface VariableSpec<S extends Type = Type> {
  section: Section;
  /** The per-variable rules. */
  type: S;
  /** One line (wrapped in `.env.example`); "(P)" marks what NODE_ENV=production enforces. */
  description: string;
  /** The value as written in the environment; parsed by `type` like any value. */
  default?: string;
  /** A default computed from other variables, or generated: for the docs (the loader computes it). */
  defaultNote?: string;
  /** Shown in `.env.example`; a secret's is a `<placeholder>`. Defaults to `default`. */
  example?: string;
  /** Never printed, never committed; kept out of every problem line. */
  secret?: boolean;
  /** 'production': a rule of the service (./rules.ts) requires it when NODE_ENV=production. */
  required?: 'always' | 'production';
  /** Said in brackets after "is required". */
  requiredHint?: string;
}

export interface Variable<S extends Type = Type, Out = unknown> extends VariableSpec<S> {
  /** The schema of the variable as read from the environment: unset or blank, default, type. */
  field: z.ZodType<Out, string | undefined>;
}

/** `auto` or a number of replicas from 0 to 5. */
function minReplicas() {
  return z.string().transform((v, ctx): 'auto' | number => {
    if (v.toLowerCase() === 'auto') return 'auto';
    if (/^[0-5]$/.test(v)) return Number(v);
    ctx.addIssue({ code: 'custom', message: 'must be auto or a whole number from 0 to 5' });
    return z.NEVER;
  });
}

/**
 * An empty or blank value counts as unset; values are trimmed; a `<placeholder>` of
 * .env.example left as it was is a problem of its own, in every mode and profile.
 */
const unsetIfBlank = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
  .refine((v) => v === undefined || !t.isPlaceholder(v), {
    message: 'is still the <placeholder> of .env.example: put the real value, or remove the line',
  });

export function requiredMessage(spec: Pick<VariableSpec, 'requiredHint'>, inProduction: boolean): string {
  return `is required${inProduction ? ' when NODE_ENV=production' : ''}${spec.requiredHint === undefined ? '' : ` (${spec.requiredHint})`}`;
}

function variable<S extends Type>(spec: VariableSpec<S> & { required: 'always' }): Variable<S, z.output<S>>;
function variable<S extends Type>(spec: VariableSpec<S> & { default: string }): Variable<S, z.output<S>>;
function variable<S extends Type>(spec: VariableSpec<S>): Variable<S, z.output<S> | undefined>;
function variable<S extends Type>(spec: VariableSpec<S>): Variable<S, unknown> {
  let field: z.ZodType<unknown, string | undefined>;
  if (spec.required === 'always') field = unsetIfBlank.pipe(z.string({ error: requiredMessage(spec, false) }).pipe(spec.type));
  else if (spec.default !== undefined) field = unsetIfBlank.pipe(spec.type.prefault(spec.default as z.input<S>));
  else field = unsetIfBlank.pipe(spec.type.optional());
  return { ...spec, field };
}

/** Every variable the service reads, in documentation order. */
export const SERVICE_VARIABLES = {
  // --- Service
  NODE_ENV: variable({
    section: 'Service',
    type: t.nodeEnv(),
    default: 'development',
    example: 'production',
    description:
      '`production`, `development` or `test`. `production` turns on the strict checks marked (P): https URLs, Redis, secrets, no demo auth. The container image sets it already.',
  }),
  PORT: variable({
    section: 'Service',
    type: t.int(0, 65535),
    default: '3000',
    description: 'Listen port. docker-compose.yml sets it (and `HOST`) itself.',
  }),
  HOST: variable({
    section: 'Service',
    type: t.listenHost(),
    default: '0.0.0.0',
    description: 'Listen address.',
  }),
  PUBLIC_URL: variable({
    section: 'Service',
    type: t.publicUrl(),
    required: 'production',
    requiredHint: 'the https URL browsers use',
    defaultNote: '`http://localhost:${PORT}`',
    example: 'https://bank.example.com',
    description:
      'External base URL of the service, as browsers reach it; the Powens callback is `${PUBLIC_URL}/callback`. (P): https. With https, cookies are Secure and `__Host-` prefixed (and HSTS is sent).',
  }),
  TRUST_PROXY: variable({
    section: 'Service',
    type: t.trustProxy(),
    default: 'false',
    description:
      'The proxies to believe, as Express `trust proxy`: `true`, `false`, a hop count (`1`) or a comma-separated list of addresses, subnets or `loopback`, `linklocal`, `uniquelocal` (`10.0.0.5, 10.1.0.0/16`). Needed for Secure cookies and per-IP rate limits behind a load balancer that ends TLS. Required with `AUTH_MODE=header`, as a list: `AUTH_HEADER` is believed only from those addresses.',
  }),

  // --- Powens
  POWENS_DOMAIN: variable({
    section: 'Powens',
    type: t.powensDomain(),
    required: 'always',
    requiredHint: 'your Powens domain, e.g. acme-sandbox.biapi.pro',
    example: 'acme-sandbox',
    description: 'Your Powens API host. A bare name means `<name>.biapi.pro`: `acme-sandbox` is `acme-sandbox.biapi.pro`.',
  }),
  POWENS_CLIENT_ID: variable({
    section: 'Powens',
    type: t.text(),
    required: 'always',
    requiredHint: 'from the Powens console',
    example: '<client id from the Powens console>',
    description: 'The client application from the Powens console.',
  }),
  POWENS_CLIENT_SECRET: variable({
    section: 'Powens',
    type: t.text(),
    required: 'always',
    requiredHint: 'from the Powens console',
    secret: true,
    example: '<client secret from the Powens console>',
    description: "The client application's secret; only ever sent to Powens, server-side.",
  }),
  POWENS_REDIRECT_URI: variable({
    section: 'Powens',
    type: t.serviceUrl({ trimSlashes: false }),
    defaultNote: '`${PUBLIC_URL}/callback`',
    example: 'https://bank.example.com/callback',
    description: 'Where the webview sends the browser back; must be white-listed in the Powens console. (P): https.',
  }),
  POWENS_API_URL: variable({
    section: 'Powens',
    type: t.serviceUrl({ trimSlashes: true }),
    defaultNote: '`https://${POWENS_DOMAIN}/2.0`',
    example: 'https://acme-sandbox.biapi.pro/2.0',
    description: 'The Powens API; set it to point at an emulator. (P): https.',
  }),
  POWENS_WEBVIEW_URL: variable({
    section: 'Powens',
    type: t.serviceUrl({ trimSlashes: true }),
    default: 'https://webview.powens.com',
    description: 'The hosted webview; flows open `${POWENS_WEBVIEW_URL}/{lang}/connect|reconnect|manage`. (P): https.',
  }),
  POWENS_WEBVIEW_LANG: variable({
    section: 'Powens',
    type: t.webviewLang(),
    defaultNote: "the browser's `Accept-Language` among these, else `en`",
    example: 'en',
    description: 'Webview language: `en`, `fr`, `de`, `nl`, `pt`, `it` or `es`.',
  }),
  POWENS_TIMEOUT_MS: variable({
    section: 'Powens',
    type: t.int(100, 120000),
    default: '5000',
    description: 'Deadline of each call to Powens, in milliseconds, retries and waits included: past it the page or problem is a 502.',
  }),
  POWENS_RETRIES: variable({
    section: 'Powens',
    type: t.int(0, 5),
    default: '2',
    description:
      'Retries of idempotent (GET) calls to Powens that failed fast (429, 5xx, reset connection), within the deadline above; never for POST or DELETE.',
  }),
  POWENS_MAX_CONCURRENT_EXCHANGES: variable({
    section: 'Powens',
    type: t.int(1, 1024),
    default: '16',
    description:
      'Most calls to Powens at once for first connections (code exchange, `/auth/init`, `/users/me`), per process; sixteen times as many may wait for a slot, within `POWENS_TIMEOUT_MS`, and the rest are a 502 at once. Each kind of call has its own bound, so a slow list cannot hold up a callback.',
  }),
  POWENS_MAX_CONCURRENT_CODES: variable({
    section: 'Powens',
    type: t.int(1, 1024),
    default: '16',
    description: 'The same bound for opening the webview of an existing user (temporary codes, the connection a reconnect names).',
  }),
  POWENS_MAX_CONCURRENT_LISTS: variable({
    section: 'Powens',
    type: t.int(1, 1024),
    default: '32',
    description: "The same bound for reading lists (a user's connections, the connectors).",
  }),
  POWENS_MAX_CONCURRENT_DELETES: variable({
    section: 'Powens',
    type: t.int(1, 1024),
    default: '8',
    description: 'The same bound for deletions (connections, users, tokens), clean-ups in the background included.',
  }),
  POWENS_TIMEZONE: variable({
    section: 'Powens',
    type: t.timeZone(),
    default: 'Europe/Paris',
    description:
      'How Powens\' zone-less dates (`YYYY-MM-DD HH:MM:SS`: last sync, consent end) are read: an IANA time zone. Powens documents none; a production connector reads them as Europe/Paris (docs/POWENS-API.md, "Dates"). A date that carries `Z` or an offset keeps it.',
  }),
  CONSENT_WARNING_DAYS: variable({
    section: 'Powens',
    type: t.int(0, 365),
    default: '14',
    description:
      'A connection whose bank consent (`expire`) ends within this many days, or has ended, is `expiresSoon` in `GET /me/connections`, with a `reconnectUrl` to renew it.',
  }),
  CONNECTORS_CACHE_TTL_SECONDS: variable({
    section: 'Powens',
    type: t.int(0, 86400),
    default: '3600',
    description: "How long the domain's connector list (`GET /connectors`) is cached in Redis, shared by every instance, in seconds; `0` turns the cache off.",
  }),
  POWENS_LINK_MODE: variable({
    section: 'Powens',
    type: t.oneOf(['exchange', 'init'] as const),
    default: 'exchange',
    description:
      "How a user's first connection creates their Powens user: `exchange` (the webview creates it; the callback's `code` is exchanged, so nobody who abandons the webview gets one) or `init` (Powens' current guide: `POST /auth/init` at the first `/connect`, its token stored before the webview opens with a temporary code). README: choosing a link mode.",
  }),
  CONNECTIONS_CACHE_TTL_SECONDS: variable({
    section: 'Powens',
    type: t.int(0, 86400),
    default: '60',
    description: "How long a user's connection list from Powens is cached in Redis, in seconds; `0` turns the cache off.",
  }),

  // --- Redis
  REDIS_URL: variable({
    section: 'Redis',
    type: t.redisUrl(),
    required: 'production',
    secret: true,
    defaultNote: 'unset: `npm run demo` then keeps everything in memory',
    example: 'redis://localhost:6379',
    description:
      '`redis://` or `rediss://` (TLS), with credentials if any: `rediss://:<password>@redis.example.com:6380/0`. docker-compose.yml sets it to its own Redis.',
  }),
  REDIS_PREFIX: variable({
    section: 'Redis',
    type: t.redisPrefix(),
    default: 'powens-bff:',
    description:
      'Prefix of every key the service writes (sessions, flows, tokens, counters, caches). A `{` in it must open a whole hash tag (`{bff}:`), else Redis Cluster splits keys written together.',
  }),
  REDIS_SENTINELS: variable({
    section: 'Redis',
    type: t.hostPorts(),
    example: 'sentinel-1.example.com:26379,sentinel-2.example.com:26379',
    description:
      "Redis Sentinel: comma-separated `host:port` of the sentinels. `REDIS_URL` then gives only the master's password, database and TLS (its host is not used, e.g. `redis://:<master password>@mymaster/0`). Not with `REDIS_CLUSTER`.",
  }),
  REDIS_SENTINEL_NAME: variable({
    section: 'Redis',
    type: t.text(),
    example: 'mymaster',
    description: "Redis Sentinel: the monitored master's name; required with `REDIS_SENTINELS`.",
  }),
  REDIS_SENTINEL_PASSWORD: variable({
    section: 'Redis',
    type: t.text(),
    secret: true,
    example: '<sentinel password>',
    description: "Redis Sentinel: the sentinels' own password (the master's is in `REDIS_URL`).",
  }),
  REDIS_CLUSTER: variable({
    section: 'Redis',
    type: t.bool(),
    default: 'false',
    description: "Redis Cluster: `true` to treat `REDIS_URL` as one of the cluster's nodes (the others are discovered). Not with sentinels.",
  }),
  REDIS_COMMAND_TIMEOUT_MS: variable({
    section: 'Redis',
    type: t.int(50, 60000),
    default: '1000',
    description: 'A Redis command that takes longer than this fails (503) instead of hanging, in milliseconds.',
  }),
  REDIS_MIN_REPLICAS: variable({
    section: 'Redis',
    type: minReplicas(),
    default: 'auto',
    description:
      'Replicas that must acknowledge a stored token (`WAIT`, at most half of `REDIS_COMMAND_TIMEOUT_MS`) before the user is told the bank is linked. `auto`: one once the master has been seen with a replica (`INFO replication`; Cluster: a replica of any master), kept for the life of the process; none before. `0` never waits. A write not acknowledged in time is undone and the link fails (503).',
  }),
  REDIS_STARTUP_TIMEOUT_MS: variable({
    section: 'Redis',
    type: t.int(100, 300000),
    default: '10000',
    description: 'How long start-up waits for Redis before exiting with an error, in milliseconds.',
  }),

  // --- Sessions & tokens
  SESSION_SECRET: variable({
    section: 'Sessions & tokens',
    type: t.secretList(),
    required: 'production',
    requiredHint: 'at least 32 characters',
    secret: true,
    defaultNote: 'a random one per process, with a warning',
    example: '<at least 32 random characters>',
    description:
      'Signs the session cookie. Comma-separated: the first signs, all verify, so a new secret can be put first while the old one still verifies. (P): each at least 32 characters; generate one with `openssl rand -base64 48`.',
  }),
  SESSION_TTL_SECONDS: variable({
    section: 'Sessions & tokens',
    type: t.int(60, 31536000),
    default: '86400',
    description:
      'Lifetime of a signed-in session (the demo sign-in), in seconds (cookie and Redis). A session that only binds a browser to its pending flows (header and jwt modes) lives as long as its newest flow, 15 minutes.',
  }),
  TOKEN_ENCRYPTION_KEYS: variable({
    section: 'Sessions & tokens',
    type: t.tokenKeys(),
    required: 'production',
    requiredHint: 'keyId:base64 of 32 bytes',
    secret: true,
    defaultNote: 'a random one per process, with a warning',
    example: 'k1:<output of: openssl rand -base64 32>',
    description:
      'Encrypts the stored Powens tokens (AES-256-GCM). Comma-separated `keyId:base64-of-32-bytes`; the first encrypts, all decrypt. To rotate, put a new key first and keep the old one until `npm run rotate-keys` has re-sealed every token. A key: `openssl rand -base64 32`.',
  }),

  // --- Auth
  AUTH_MODE: variable({
    section: 'Auth',
    type: t.authMode(),
    required: 'production',
    requiredHint: 'header or jwt',
    defaultNote: '`demo`',
    example: 'header',
    description:
      'Who the user is: `header` (a trusted proxy sets `AUTH_HEADER`), `jwt` (`AUTH_JWT_SECRET` or `AUTH_JWKS_URL`) or `demo` (a sign-in page for trying it out). (P): not demo.',
  }),
  AUTH_HEADER: variable({
    section: 'Auth',
    type: t.text(),
    default: 'x-user-id',
    description: '`header` mode: the header carrying the user id. Only safe behind a proxy that sets it and strips it from clients.',
  }),
  AUTH_JWT_SECRET: variable({
    section: 'Auth',
    type: t.text(),
    secret: true,
    example: '<at least 32 random characters>',
    description:
      '`jwt` mode: an HS256 secret (at least 32 characters), or else `AUTH_JWKS_URL`, not both. The user id is the `sub` claim; the token comes from `Authorization: Bearer` or the `AUTH_JWT_COOKIE` cookie.',
  }),
  AUTH_JWKS_URL: variable({
    section: 'Auth',
    type: t.text(),
    example: 'https://auth.example.com/.well-known/jwks.json',
    description: "`jwt` mode: the JWKS of the tokens' issuer (instead of `AUTH_JWT_SECRET`). (P): https.",
  }),
  AUTH_JWT_ISSUER: variable({
    section: 'Auth',
    type: t.text(),
    example: 'https://auth.example.com/',
    description:
      '`jwt` mode: the `iss` claim every token must carry. (P): required, unless `AUTH_JWT_SKIP_ISSUER_AUDIENCE=true`; outside production it is checked when set.',
  }),
  AUTH_JWT_AUDIENCE: variable({
    section: 'Auth',
    type: t.text(),
    example: 'powens-connect-bff',
    description:
      '`jwt` mode: the `aud` claim every token must carry. (P): required, unless `AUTH_JWT_SKIP_ISSUER_AUDIENCE=true`; outside production it is checked when set.',
  }),
  AUTH_JWT_SKIP_ISSUER_AUDIENCE: variable({
    section: 'Auth',
    type: t.bool(),
    default: 'false',
    description:
      '`jwt` mode in production: `true` accepts tokens without checking the issuer or audience that are not set. Only when the signing key (`AUTH_JWT_SECRET`, or the JWKS) signs tokens for this service alone: otherwise a token your identity provider issued for another app would sign users in here.',
  }),
  AUTH_JWT_COOKIE: variable({
    section: 'Auth',
    type: t.text(),
    example: 'app_session',
    description: '`jwt` mode: a cookie to read the token from when there is no `Authorization` header.',
  }),
  AUTH_JWKS_COOLDOWN_SECONDS: variable({
    section: 'Auth',
    type: t.int(0, 3600),
    default: '30',
    description:
      '`jwt` mode with a JWKS: the JWKS is cached (10 minutes) and fetched again when a token names an unknown key id (a key rotation), but not more often than once per this many seconds.',
  }),
  APP_LOGIN_URL: variable({
    section: 'Auth',
    type: t.loginUrl(),
    defaultNote: 'unset: a 401 page',
    example: 'https://app.example.com/login',
    description: 'Where a browser with no app user is sent (with `return_to`): an absolute URL or a path of this service.',
  }),

  // --- Browser & CORS
  CORS_ORIGINS: variable({
    section: 'Browser & CORS',
    type: t.originList(),
    example: 'https://app.example.com',
    description: 'Origins allowed to call the JSON API with credentials, comma-separated, no path, no trailing slash.',
  }),
  RETURN_TO_ORIGINS: variable({
    section: 'Browser & CORS',
    type: t.originList(),
    defaultNote: '`CORS_ORIGINS` (with NODE_ENV=production, its https origins)',
    example: 'https://app.example.com',
    description:
      "Origins that `return_to` may name in an absolute URL (the app's frontend on another origin), comma-separated like `CORS_ORIGINS`. The first is where a flow lands without a usable `return_to` (else `/` of this service). (P): https.",
  }),

  // --- Webhooks
  WEBHOOK_HMAC_SECRET: variable({
    section: 'Webhooks',
    type: t.secret(16),
    secret: true,
    example: '<from the Powens console>',
    description:
      "Secret of Powens' HMAC webhook signature (`BI-Signature`), at least 16 characters. Unset: only webhooks carrying the user's own token (`Authorization: Bearer`) are accepted.",
  }),
  WEBHOOK_BODY_LIMIT_BYTES: variable({
    section: 'Webhooks',
    type: t.int(1024, 256 * 1024 * 1024),
    default: String(10 * 1024 * 1024),
    description: 'Largest webhook body accepted, in bytes, after gzip decompression too.',
  }),
  WEBHOOK_MAX_AGE_S: variable({
    section: 'Webhooks',
    type: t.int(10, 86400),
    default: '300',
    description:
      "Accepted age of a signed webhook's `BI-Signature-Date`, in seconds, either way (a sender's clock may be ahead); older deliveries are refused (401) before their body is read.",
  }),
  WEBHOOK_MAX_BODIES_IN_FLIGHT: variable({
    section: 'Webhooks',
    type: t.int(1, 1000),
    default: '8',
    description:
      'Webhook bodies one process reads at once; one more delivery gets a 503 with `Retry-After` before its body is read (Powens retries it). Memory held by bodies stays under this times `WEBHOOK_BODY_LIMIT_BYTES`.',
  }),

  // --- Rate limits
  RATE_LIMIT_PER_IP: variable({
    section: 'Rate limits',
    type: t.int(0, 1000000),
    default: '300',
    description: 'Requests a minute on the flow routes and the API, per IP; `0` turns the limit off.',
  }),
  RATE_LIMIT_PER_USER: variable({
    section: 'Rate limits',
    type: t.int(0, 1000000),
    default: '60',
    description: 'Requests a minute on the flow routes and the API, per user; `0` turns the limit off.',
  }),
  RATE_LIMIT_WEBHOOK_PER_IP: variable({
    section: 'Rate limits',
    type: t.int(0, 1000000),
    default: '1200',
    description:
      'Webhook deliveries a minute per IP, counted before any body is read; `0` turns the limit off. Powens pushes from a few addresses: keep it above your peak of deliveries (a 429 only delays one, Powens retries it).',
  }),

  // --- Operations
  LOG_LEVEL: variable({
    section: 'Operations',
    type: t.logLevel(),
    default: 'info',
    description: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
  }),
  METRICS_TOKEN: variable({
    section: 'Operations',
    type: t.secret(16),
    secret: true,
    example: '<at least 16 random characters>',
    description:
      'Bearer token required by `GET /metrics` (at least 16 characters). Unset: `/metrics` is open, so keep it off the public network (block the path at your proxy either way; README, Deployment).',
  }),
  GIT_COMMIT: variable({
    section: 'Operations',
    // A label value of build_info: kept short and plain so no value can break the exposition.
    type: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, dots, dashes or underscores (a commit hash)'),
    example: '<the commit the image was built from>',
    description:
      'The commit the service was built from, shown as the `commit` label of `build_info` on `/metrics` (else `unknown`). The Dockerfile sets it from the build argument of the same name: `docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .`',
  }),
  SHUTDOWN_DELAY_MS: variable({
    section: 'Operations',
    type: t.int(0, 9000),
    default: '3000',
    description:
      'On SIGTERM, how long readiness answers 503 while the listener still serves, before it stops accepting connections: the time the load balancer needs to see the 503 and stop sending. `0` skips it (nothing in front). With `SHUTDOWN_TIMEOUT_MS`, at most `9000` in all.',
  }),
  SHUTDOWN_TIMEOUT_MS: variable({
    section: 'Operations',
    // The delay, the drain, then up to 500 ms for queued webhook work and 300 ms for Redis QUIT: 10 s in all.
    type: t.int(0, 9000),
    default: '6000',
    description:
      'On SIGTERM, after `SHUTDOWN_DELAY_MS`, how long in-flight requests may take before their connections are cut and the process exits. `SHUTDOWN_DELAY_MS` plus this is at most `9000`, so the process always exits within 10 seconds (was `8000` with no delay before).',
  }),
  KEEP_ALIVE_TIMEOUT_MS: variable({
    section: 'Operations',
    // Up to an hour: some load balancers keep idle connections 610 s (Google Cloud).
    type: t.int(1000, 3_600_000),
    default: '65000',
    description:
      "Idle keep-alive timeout of the HTTP server; keep it above your load balancer's idle timeout (AWS ALB: 60 s by default; Google Cloud load balancers: 610 s, so `620000` there).",
  }),
  HEADERS_TIMEOUT_MS: variable({
    section: 'Operations',
    type: t.int(1000, 120000),
    default: '10000',
    description:
      "How long a client may take to send a request's headers, in milliseconds, counted from its connection or from the request's first byte (not from an idle keep-alive wait); past it the server answers 408 and closes. A load balancer sends headers at once; a slow or silent client is let go.",
  }),
  REQUEST_TIMEOUT_MS: variable({
    section: 'Operations',
    type: t.int(1000, 600000),
    default: '30000',
    description:
      'How long a client may take to send a whole request (headers and body), in milliseconds; at least `HEADERS_TIMEOUT_MS`. It does not bound the answer: a slow call to Powens is bounded by `POWENS_TIMEOUT_MS`.',
  }),
  MAX_CONNECTIONS: variable({
    section: 'Operations',
    type: t.int(0, 1000000),
    default: '10000',
    description:
      'Most client connections the process keeps open at once; more are closed as they arrive. Keep it below the open-file limit (`ulimit -n`) less some 100 for Redis and Powens. `0`: no cap.',
  }),
  // --- Tracing: the standard names of the OpenTelemetry SDK configuration, read here like every
  // other variable and handed to the SDK explicitly (src/ops/tracing.ts).
  OTEL_SDK_DISABLED: variable({
    section: 'Tracing',
    type: t.bool(),
    default: 'false',
    description: '`true`: no tracing, whatever the other `OTEL_*` variables say.',
  }),
  OTEL_TRACES_EXPORTER: variable({
    section: 'Tracing',
    type: t.oneOf(['otlp', 'none'] as const, 'must be otlp or none (the service exports OTLP over HTTP only)'),
    example: 'otlp',
    defaultNote: '`otlp` when an `OTEL_EXPORTER_OTLP_*ENDPOINT` is set, else `none`',
    description:
      'Tracing is off unless this is `otlp` or an endpoint below is set; `none` turns it off even then. On: a span per request, with child spans for Powens calls and Redis operations (README, Tracing).',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: variable({
    section: 'Tracing',
    type: t.otlpUrl(),
    example: 'http://otel-collector:4318',
    defaultNote: 'unset: `http://localhost:4318` when tracing is on',
    description: 'Base URL of the OTLP/HTTP receiver (a collector, Jaeger, Tempo...): spans go to `/v1/traces` under it. Setting it turns tracing on.',
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: variable({
    section: 'Tracing',
    type: t.otlpUrl(),
    example: 'http://otel-collector:4318/v1/traces',
    description: 'Full URL spans are sent to, used as it is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`. Setting it turns tracing on.',
  }),
  OTEL_EXPORTER_OTLP_PROTOCOL: variable({
    section: 'Tracing',
    type: t.oneOf(['http/protobuf', 'http/json'] as const, 'must be http/protobuf or http/json (gRPC is not supported: use the OTLP/HTTP port, 4318)'),
    default: 'http/protobuf',
    description: 'Body encoding of the OTLP/HTTP export: `http/protobuf` or `http/json`.',
  }),
  OTEL_EXPORTER_OTLP_HEADERS: variable({
    section: 'Tracing',
    type: t.keyValues(),
    secret: true,
    example: '<x-api-key=the key of your tracing backend>',
    description: 'Headers sent with every export, `key=value` pairs separated by commas, values URL-encoded (an API key of a hosted backend).',
  }),
  OTEL_EXPORTER_OTLP_TIMEOUT: variable({
    section: 'Tracing',
    type: t.int(1000, 60000),
    default: '10000',
    description: 'Milliseconds an export may take before it is abandoned (its spans are dropped, requests are never slowed by it).',
  }),
  OTEL_EXPORTER_OTLP_COMPRESSION: variable({
    section: 'Tracing',
    type: t.oneOf(['none', 'gzip'] as const),
    default: 'none',
    description: '`gzip` compresses the exports.',
  }),
  OTEL_SERVICE_NAME: variable({
    section: 'Tracing',
    type: t.text(),
    default: 'powens-connect-bff',
    description: 'The `service.name` of the spans.',
  }),
  OTEL_RESOURCE_ATTRIBUTES: variable({
    section: 'Tracing',
    type: t.keyValues(),
    example: 'deployment.environment.name=production,service.namespace=bank',
    description:
      'More resource attributes of the spans, `key=value` pairs separated by commas, values URL-encoded; `OTEL_SERVICE_NAME` wins over a `service.name` here.',
  }),
  OTEL_TRACES_SAMPLER: variable({
    section: 'Tracing',
    type: t.traceSampler(),
    default: 'parentbased_always_on',
    description:
      'Which requests are traced. `parentbased_*` follow the decision of an incoming `traceparent` (the caller sampled it or not), and apply the rest to requests without one.',
  }),
  OTEL_TRACES_SAMPLER_ARG: variable({
    section: 'Tracing',
    type: t.ratio(),
    default: '1',
    description: 'The share of traces kept by the `*traceidratio` samplers, from `0` to `1` (e.g. `0.1`).',
  }),
};

export type ServiceName = keyof typeof SERVICE_VARIABLES;

/**
 * The Powens emulator's variables: `npm run emulator` and its container read them all
 * (emulator/env.ts, which cannot import src/: test/unit/env-docs.test.ts checks that it reads
 * these names with these defaults); `npm run demo` reads EMULATOR_PORT.
 */
export const EMULATOR_VARIABLES = {
  EMULATOR_PORT: variable({
    section: 'Emulator and demo',
    // Not 0: the service is configured with the emulator's URL before the emulator listens.
    type: t.int(1, 65535),
    default: '4010',
    description: 'Port of the Powens emulator (`npm run emulator`, and the one `npm run demo` starts on 127.0.0.1).',
  }),
  EMULATOR_HOST: variable({
    section: 'Emulator and demo',
    type: t.listenHost(),
    default: '127.0.0.1',
    description: '`npm run emulator`: listen address (its container: `0.0.0.0`).',
  }),
  EMULATOR_PUBLIC_URL: variable({
    section: 'Emulator and demo',
    type: t.text(),
    default: 'http://localhost:${EMULATOR_PORT}',
    description:
      "`npm run emulator`: where browsers reach it; its webview and API are under this URL, the service's `POWENS_WEBVIEW_URL` and `POWENS_API_URL` (`/2.0`).",
  }),
  EMULATOR_DOMAIN: variable({
    section: 'Emulator and demo',
    type: t.text(),
    default: 'demo-sandbox.biapi.pro',
    description: "`npm run emulator`: the domain it stands for, the service's `POWENS_DOMAIN` (webviews naming another are refused).",
  }),
  EMULATOR_CLIENT_ID: variable({
    section: 'Emulator and demo',
    type: t.text(),
    default: 'demo-client',
    description: "`npm run emulator`: its one client application, the service's `POWENS_CLIENT_ID`.",
  }),
  EMULATOR_CLIENT_SECRET: variable({
    section: 'Emulator and demo',
    type: t.text(),
    default: 'demo-secret-not-for-production',
    description: "`npm run emulator`: that client's secret, the service's `POWENS_CLIENT_SECRET` (a fake Powens: the default is public).",
  }),
  EMULATOR_REDIRECT_URIS: variable({
    section: 'Emulator and demo',
    type: t.text(),
    default: 'http://localhost:3000/callback',
    description: "`npm run emulator`: the redirect URIs that client may use, comma-separated: the service's `${PUBLIC_URL}/callback`.",
  }),
  EMULATOR_CONTROL_PORT: variable({
    section: 'Emulator and demo',
    type: t.int(0, 65535),
    defaultNote: 'unset: the control API is on `EMULATOR_PORT` with the rest',
    example: '4011',
    description:
      '`npm run emulator`: a port of its own for the control API (`/__emulator`: failures, delays, users, webhooks), so that publishing the webview does not publish it (docker-compose.yml uses 4011, unpublished).',
  }),
  EMULATOR_CONTROL_HOST: variable({
    section: 'Emulator and demo',
    type: t.listenHost(),
    default: '127.0.0.1',
    description: '`npm run emulator`: listen address of the control API when it has its own port.',
  }),
  EMULATOR_TIMEZONE: variable({
    section: 'Emulator and demo',
    type: t.timeZone(),
    default: 'Europe/Paris',
    description: "`npm run emulator`: the zone of the zone-less dates it writes, as Powens is read (keep it equal to the service's `POWENS_TIMEZONE`).",
  }),
};

export type EmulatorName = keyof typeof EMULATOR_VARIABLES;

/** Variables only `npm run demo` reads besides the service's. */
export const DEMO_VARIABLES = {
  EMULATOR_PORT: EMULATOR_VARIABLES.EMULATOR_PORT,
};

export type DemoName = keyof typeof DEMO_VARIABLES;

/** What `npm run demo` defaults differently from the service (applied by loadDemoConfig). */
export const DEMO_DEFAULTS: Partial<Record<ServiceName, string>> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  POWENS_DOMAIN: 'demo-sandbox.biapi.pro',
  // No load balancer in front of the demo: Ctrl-C stops it at once.
  SHUTDOWN_DELAY_MS: '0',
};

/**
 * The demo block at the end of `.env.example`: what the service needs to run against the
 * emulator, the same for `npm start` beside `npm run emulator` and for `docker compose --profile
 * demo up` (there the emulator shares the service's network, so localhost:4010 is the emulator
 * for both the browser and the service). The client, secret, domain and callback are the
 * emulator's defaults (EMULATOR_VARIABLES). SESSION_SECRET and TOKEN_ENCRYPTION_KEYS are left
 * out: outside production they are random per process, so the block holds no placeholder.
 */
export const CONTAINER_DEMO_ENV: readonly (readonly [ServiceName, string])[] = [
  ['NODE_ENV', 'development'],
  ['AUTH_MODE', 'demo'],
  ['PUBLIC_URL', 'http://localhost:3000'],
  ['POWENS_DOMAIN', 'demo-sandbox.biapi.pro'],
  ['POWENS_API_URL', 'http://localhost:4010/2.0'],
  ['POWENS_WEBVIEW_URL', 'http://localhost:4010'],
  ['POWENS_CLIENT_ID', 'demo-client'],
  ['POWENS_CLIENT_SECRET', 'demo-secret-not-for-production'],
  // `npm start` needs a Redis (`npm run demo` does not); docker-compose.yml sets its own.
  ['REDIS_URL', 'redis://127.0.0.1:6379'],
];

/** Prose shown under a section's heading, in the README and in `.env.example`. */
export const SECTION_NOTES: Partial<Record<Section, string>> = {
  Tracing:
    'OpenTelemetry traces, off by default, with the standard variable names (see "Tracing" below). The OTLP exporter also reads, itself and unchecked, the certificate files of the specification (`OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY`, `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and their `_TRACES_` forms) and `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, merged with the headers below; no other `OTEL_*` variable has any effect.',
  Webhooks:
    'In the Powens console, register one webhook per event, each at its own URL: `${PUBLIC_URL}/webhooks/powens/CONNECTION_SYNCED`, `.../CONNECTION_DELETED`, `.../USER_DELETED` (see "Webhooks and the connections cache" below).',
  'Emulator and demo': `\`npm run emulator\` runs the Powens emulator alone with these (its start line prints what to put in \`.env\`). \`npm run demo\` starts its own on \`EMULATOR_PORT\`: it also reads the variables above, but defaults ${Object.entries(
    DEMO_DEFAULTS,
  )
    .map(([name, value]) => `\`${name}\` to \`${value}\``)
    .join(
      ', ',
    )}, sets \`AUTH_MODE=demo\` and the \`POWENS_CLIENT_*\`, \`POWENS_API_URL\` and \`POWENS_WEBVIEW_URL\` of its emulator, refuses \`NODE_ENV=production\`, and wants \`TOKEN_ENCRYPTION_KEYS\` whenever \`REDIS_URL\` is set.`,
};
