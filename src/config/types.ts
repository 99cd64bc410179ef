/** The typed configuration the service runs with: what the loaders in ./load.ts return. */

export const WEBVIEW_LANGS = ['en', 'fr', 'de', 'nl', 'pt', 'it', 'es'] as const;
export type WebviewLang = (typeof WEBVIEW_LANGS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const AUTH_MODES = ['header', 'jwt', 'demo'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

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
  /** Replicas that must acknowledge a stored token (REDIS_MIN_REPLICAS). */
  minReplicas: 'auto' | number;
}

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** OpenTelemetry tracing (the OTEL_* variables): off, or where and how spans are exported. */
export type TracingConfig =
  | { enabled: false }
  | {
      enabled: true;
      /** The OTLP/HTTP traces URL, `/v1/traces` included. */
      url: string;
      protocol: 'http/protobuf' | 'http/json';
      headers: Record<string, string>;
      compression: 'none' | 'gzip';
      timeoutMs: number;
      serviceName: string;
      resourceAttributes: Record<string, string>;
      sampler: TraceSampler;
      samplerRatio: number;
    };

/** The kinds of Powens calls that each have their own bound (powens/client.ts, POOL_OF). */
export type PowensPool = 'exchange' | 'codes' | 'lists' | 'deletes';
export type PowensPoolSizes = Record<PowensPool, number>;

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
    /** How zone-less Powens dates are read (an IANA zone). */
    timeZone: string;
    /** Most concurrent calls per kind (POWENS_MAX_CONCURRENT_*); as many more may wait. */
    pools: PowensPoolSizes;
  };
  redis: RedisConfig;
  /** How a first connection creates its Powens user (POWENS_LINK_MODE). */
  linkMode: 'exchange' | 'init';
  sessionSecrets: string[];
  sessionTtlSeconds: number;
  tokenKeys: TokenKey[];
  auth: AuthConfig;
  appLoginUrl: string | undefined;
  corsOrigins: string[];
  /** Origins an absolute `return_to` may name; the first is the default landing after a flow. */
  returnToOrigins: string[];
  trustProxy: TrustProxy;
  logLevel: string;
  webhookHmacSecret: string | undefined;
  /** Largest webhook body accepted, after gzip decompression too. */
  webhookBodyLimitBytes: number;
  /** Accepted age of `BI-Signature-Date`, either way. */
  webhookMaxAgeSeconds: number;
  /** Webhook bodies read at once (per process). */
  webhookMaxBodiesInFlight: number;
  /** RATE_LIMIT_WEBHOOK_PER_IP: webhook deliveries a minute per IP (0: off). */
  webhookRateLimitPerIp: number;
  rateLimit: { perIp: number; perUser: number };
  metricsToken: string | undefined;
  /** GIT_COMMIT: the build_info commit label. */
  gitCommit: string | undefined;
  connectionsCacheTtlSeconds: number;
  consentWarningDays: number;
  connectorsCacheTtlSeconds: number;
  /** SIGTERM: readiness 503 while still serving, this long, before the listener closes. */
  shutdownDelayMs: number;
  shutdownTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** 0: no cap. */
  maxConnections: number;
  tracing: TracingConfig;
  /** Values generated because the variable was unset outside production; the caller warns. */
  generated: string[];
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

export interface StorageConfig {
  redis: RedisConfig;
  tokenKeys: TokenKey[];
}

export type StorageConfigResult = { ok: true; config: StorageConfig } | { ok: false; problems: string[] };

/**
 * What `npm run demo` needs: the service's configuration, pointed at the Powens emulator it
 * starts, and that emulator's start options (structurally the emulator's StartEmulatorOptions;
 * the foundation does not import the emulator).
 */
export interface DemoConfig {
  service: Config;
  emulator: {
    port: number;
    host: string;
    /** Where browsers reach the emulator's webview; the service's POWENS_WEBVIEW_URL. */
    publicUrl: string;
    /** The API host the emulator expects in the webview's `domain` parameter: POWENS_DOMAIN. */
    domain: string;
    clients: { clientId: string; clientSecret: string; redirectUris: string[] }[];
    /** The zone the emulator writes its dates in: POWENS_TIMEZONE, so both read them alike. */
    timeZone: string;
  };
}

export type DemoConfigResult = { ok: true; config: DemoConfig } | { ok: false; problems: string[] };

export type Env = Record<string, string | undefined>;
