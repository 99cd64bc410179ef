import type { z } from 'zod';
import { httpUrl, isHttps } from './values.js';
import { requiredMessage, SERVICE_VARIABLES, type DemoName, type ServiceName } from './variables.js';

/**
 * Rules between variables. Each rule names the variables it reads; it runs only when none of
 * them has a problem yet (a problem of its own or of an earlier rule), so it always sees typed,
 * valid values, and a variable already reported is not reported again through a rule. Every
 * other problem is still found: see `applyRules`.
 */

type Name = ServiceName | DemoName;
type Values = {
  [K in ServiceName]: z.output<(typeof SERVICE_VARIABLES)[K]['field']>;
};
type Report = (name: Name, message: string) => void;

export interface Rule {
  reads: readonly Name[];
  check(e: Partial<Values>, report: Report): void;
}

/** `check` sees only the variables in `reads`, so it cannot use one that failed. */
function rule<const K extends ServiceName>(reads: readonly K[], check: (e: Pick<Values, K>, report: Report) => void): Rule {
  return { reads, check: check as Rule['check'] };
}

export function isProduction(nodeEnv: string): boolean {
  return nodeEnv === 'production';
}

/** The mode in effect: AUTH_MODE, or demo outside production. */
export function authMode(e: Pick<Values, 'NODE_ENV' | 'AUTH_MODE'>): Values['AUTH_MODE'] {
  return e.AUTH_MODE ?? (isProduction(e.NODE_ENV) ? undefined : 'demo');
}

/** Unset, or a list that came out empty (`,`). */
function unset(v: unknown): boolean {
  return v === undefined || (Array.isArray(v) && v.length === 0);
}

/** Declared `required: 'production'`, in declaration order. */
const requiredInProduction: Rule[] = (Object.keys(SERVICE_VARIABLES) as ServiceName[])
  .filter((name) => SERVICE_VARIABLES[name].required === 'production')
  .map((name) =>
    rule(['NODE_ENV', name], (e, report) => {
      if (isProduction(e.NODE_ENV) && unset(e[name])) report(name, requiredMessage(SERVICE_VARIABLES[name], true));
    }),
  );

/** Codes, secrets and tokens travel over these. */
const httpsInProduction: Rule[] = (['PUBLIC_URL', 'POWENS_REDIRECT_URI', 'POWENS_API_URL', 'POWENS_WEBVIEW_URL'] as const).map((name) =>
  rule(['NODE_ENV', name], (e, report) => {
    const v = e[name];
    // Derived defaults are not checked: they follow PUBLIC_URL and POWENS_DOMAIN, reported themselves.
    if (isProduction(e.NODE_ENV) && v !== undefined && !isHttps(String(v))) report(name, 'must be https when NODE_ENV=production');
  }),
);

/** A return_to on plain http could be read or rewritten on the way; loopback development needs it. */
const returnToOrigins = rule(['NODE_ENV', 'RETURN_TO_ORIGINS'], (e, report) => {
  if (isProduction(e.NODE_ENV) && e.RETURN_TO_ORIGINS?.some((o) => !isHttps(o)))
    report('RETURN_TO_ORIGINS', 'must list https origins only when NODE_ENV=production');
});

const sessionSecrets = rule(['NODE_ENV', 'SESSION_SECRET'], (e, report) => {
  if (isProduction(e.NODE_ENV) && e.SESSION_SECRET?.some((s) => s.length < 32)) {
    report('SESSION_SECRET', 'every secret in the list must be at least 32 characters when NODE_ENV=production');
  }
});

const auth: Rule[] = [
  rule(['NODE_ENV', 'AUTH_MODE'], (e, report) => {
    if (isProduction(e.NODE_ENV) && e.AUTH_MODE === 'demo') {
      report('AUTH_MODE', 'demo is not allowed when NODE_ENV=production (use header or jwt)');
    }
  }),
  // The variables of one mode are checked only in that mode: a leftover of the other does no harm.
  rule(['AUTH_MODE', 'AUTH_HEADER'], (e, report) => {
    if (e.AUTH_MODE === 'header' && !/^[a-z0-9-]{1,64}$/.test(e.AUTH_HEADER.toLowerCase())) {
      report('AUTH_HEADER', 'must be an HTTP header name');
    }
  }),
  rule(['NODE_ENV', 'AUTH_MODE', 'AUTH_JWKS_URL'], (e, report) => {
    if (e.AUTH_MODE !== 'jwt' || e.AUTH_JWKS_URL === undefined) return;
    const u = httpUrl(e.AUTH_JWKS_URL);
    if (u === undefined) report('AUTH_JWKS_URL', 'must be an absolute http(s) URL');
    else if (isProduction(e.NODE_ENV) && u.protocol !== 'https:') report('AUTH_JWKS_URL', 'must be https when NODE_ENV=production');
  }),
  rule(['AUTH_MODE', 'AUTH_JWT_SECRET', 'AUTH_JWKS_URL'], (e, report) => {
    if (e.AUTH_MODE !== 'jwt') return;
    if (e.AUTH_JWT_SECRET === undefined && e.AUTH_JWKS_URL === undefined) {
      report('AUTH_MODE', 'jwt needs AUTH_JWT_SECRET (HS256) or AUTH_JWKS_URL');
    }
    if (e.AUTH_JWT_SECRET !== undefined && e.AUTH_JWKS_URL !== undefined) {
      report('AUTH_JWT_SECRET', 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both');
    }
  }),
  rule(['AUTH_MODE', 'AUTH_JWT_SECRET'], (e, report) => {
    if (e.AUTH_MODE === 'jwt' && e.AUTH_JWT_SECRET !== undefined && e.AUTH_JWT_SECRET.length < 32) {
      report('AUTH_JWT_SECRET', 'must be at least 32 characters');
    }
  }),
  // A token your identity provider issued for another of its apps carries a valid signature
  // too: only the issuer and audience say it was meant for this service.
  rule(['NODE_ENV', 'AUTH_MODE', 'AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE', 'AUTH_JWT_SKIP_ISSUER_AUDIENCE'], (e, report) => {
    if (e.AUTH_MODE !== 'jwt' || !isProduction(e.NODE_ENV) || e.AUTH_JWT_SKIP_ISSUER_AUDIENCE) return;
    const hint = 'with AUTH_MODE=jwt when NODE_ENV=production (or AUTH_JWT_SKIP_ISSUER_AUDIENCE=true, see README)';
    if (e.AUTH_JWT_ISSUER === undefined) report('AUTH_JWT_ISSUER', `is required ${hint}`);
    if (e.AUTH_JWT_AUDIENCE === undefined) report('AUTH_JWT_AUDIENCE', `is required ${hint}`);
  }),
  // The identity header is believed only from the proxies listed: `true` or a hop count trust
  // whoever connects (hop 0 is the peer itself), which is what header mode must never do.
  rule(['NODE_ENV', 'AUTH_MODE', 'TRUST_PROXY'], (e, report) => {
    if (authMode(e) !== 'header') return;
    if (e.TRUST_PROXY === false) {
      report('TRUST_PROXY', 'is required with AUTH_MODE=header: the addresses or subnets of the proxies that set AUTH_HEADER (e.g. 10.0.0.5, 10.1.0.0/16)');
    } else if (typeof e.TRUST_PROXY !== 'string') {
      report('TRUST_PROXY', 'must list the proxies by address or subnet with AUTH_MODE=header: true or a hop count would believe AUTH_HEADER from any client');
    }
  }),
  rule(['AUTH_MODE', 'AUTH_JWT_COOKIE'], (e, report) => {
    if (e.AUTH_MODE === 'jwt' && e.AUTH_JWT_COOKIE !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(e.AUTH_JWT_COOKIE)) {
      report('AUTH_JWT_COOKIE', 'must be a cookie name');
    }
  }),
];

/** Redis topology: shared by the service and the storage tools. */
export const REDIS_RULES: Rule[] = [
  rule(['REDIS_SENTINELS', 'REDIS_SENTINEL_NAME'], (e, report) => {
    if ((e.REDIS_SENTINELS?.length ?? 0) > 0 && e.REDIS_SENTINEL_NAME === undefined) {
      report('REDIS_SENTINEL_NAME', 'is required with REDIS_SENTINELS (the monitored master name)');
    }
  }),
  rule(['REDIS_CLUSTER', 'REDIS_SENTINELS'], (e, report) => {
    if (e.REDIS_CLUSTER && (e.REDIS_SENTINELS?.length ?? 0) > 0) report('REDIS_CLUSTER', 'cannot be combined with REDIS_SENTINELS');
  }),
];

/** The HTTP server's timings. */
const server: Rule[] = [
  rule(['SHUTDOWN_DELAY_MS', 'SHUTDOWN_TIMEOUT_MS'], (e, report) => {
    // Then up to 500 ms for queued webhook work and 300 ms for Redis QUIT: out within 10 s.
    if (e.SHUTDOWN_DELAY_MS + e.SHUTDOWN_TIMEOUT_MS > 9000) {
      report(
        'SHUTDOWN_DELAY_MS',
        `plus SHUTDOWN_TIMEOUT_MS must be at most 9000, so the process exits within 10 seconds of SIGTERM (now ${e.SHUTDOWN_DELAY_MS} + ${e.SHUTDOWN_TIMEOUT_MS})`,
      );
    }
  }),
  rule(['HEADERS_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS'], (e, report) => {
    if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) report('REQUEST_TIMEOUT_MS', 'must be at least HEADERS_TIMEOUT_MS (the headers are part of the request)');
  }),
];

export const SERVICE_RULES: Rule[] = [...requiredInProduction, ...httpsInProduction, returnToOrigins, sessionSecrets, ...auth, ...REDIS_RULES, ...server];

/**
 * Offline tools on the stored data (`npm run rotate-keys`): REDIS_URL and TOKEN_ENCRYPTION_KEYS
 * are always required, since a random development key would make every re-sealed token unreadable.
 */
export const STORAGE_RULES: Rule[] = [
  rule(['REDIS_URL'], (e, report) => {
    if (e.REDIS_URL === undefined) report('REDIS_URL', 'is required (the Redis that holds the tokens)');
  }),
  rule(['NODE_ENV', 'TOKEN_ENCRYPTION_KEYS'], (e, report) => {
    if (e.TOKEN_ENCRYPTION_KEYS === undefined) {
      report('TOKEN_ENCRYPTION_KEYS', requiredMessage(SERVICE_VARIABLES.TOKEN_ENCRYPTION_KEYS, isProduction(e.NODE_ENV)));
    }
  }),
  ...REDIS_RULES,
];

/** `npm run demo`; first, so that with NODE_ENV=production no production rule runs at all. */
export const DEMO_RULES: Rule[] = [
  rule(['NODE_ENV'], (e, report) => {
    if (isProduction(e.NODE_ENV)) {
      report('NODE_ENV', 'the demo never runs with NODE_ENV=production (it uses AUTH_MODE=demo and may keep data in memory)');
    }
  }),
  rule(['REDIS_URL', 'TOKEN_ENCRYPTION_KEYS'], (e, report) => {
    // A random key per run would leave tokens of earlier runs in Redis that no longer open.
    if (e.REDIS_URL !== undefined && e.TOKEN_ENCRYPTION_KEYS === undefined) {
      report(
        'TOKEN_ENCRYPTION_KEYS',
        'set it too when the demo uses REDIS_URL, so tokens stored by an earlier run still open (e.g. k1:$(openssl rand -base64 32))',
      );
    }
  }),
];

/**
 * Adds `rules` to an object schema. zod 4 skips an object's refinements once any issue was
 * raised (a field failed), unless the refinement has a `when`; each rule's `when` runs it
 * whenever the variables it reads are free of problems. Only an explicitly aborting issue
 * (`continue: false`, which no variable type here raises) would still stop them: the test
 * "a bad value of any variable never hides another problem" keeps it so.
 */
export function applyRules<S extends z.ZodObject>(schema: S, rules: readonly Rule[]): S {
  let out = schema;
  for (const r of rules) {
    out = out.superRefine(
      (value, ctx) => {
        const e: Record<string, unknown> = {};
        for (const name of r.reads) e[name] = (value as Record<string, unknown>)[name];
        r.check(e as Partial<Values>, (name, message) => ctx.addIssue({ code: 'custom', path: [name], message }));
      },
      { when: (payload) => !payload.issues.some((issue) => r.reads.includes(issue.path?.[0] as Name)) },
    );
  }
  return out;
}
