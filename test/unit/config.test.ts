import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { BUILD_WAIT_MS, buildService, coverageEnv, neutralCwd } from '../helpers/build.js';
import {
  ENV_VARIABLES,
  formatProblems,
  loadConfig,
  loadDemoConfig,
  loadStorageConfig,
  parseTokenKeys,
  WEBVIEW_LANGS,
  type Config,
  type DemoConfig,
} from '../../src/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const KEY_1 = randomBytes(32).toString('base64');
const KEY_2 = randomBytes(32).toString('base64');
const CLIENT_SECRET = 'client-secret-value-0b7d3e';
const SESSION_SECRET = 'session-secret-value-0123456789abcdef';

/** A complete production environment; each test changes one thing. */
const PROD: Record<string, string> = {
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://bank.example.com',
  POWENS_DOMAIN: 'acme-sandbox',
  POWENS_CLIENT_ID: 'client-id-123',
  POWENS_CLIENT_SECRET: CLIENT_SECRET,
  REDIS_URL: 'rediss://:redis-password-77@redis.example.com:6380',
  SESSION_SECRET,
  TOKEN_ENCRYPTION_KEYS: `k1:${KEY_1}`,
  AUTH_MODE: 'header',
  // Header mode believes AUTH_HEADER only from these.
  TRUST_PROXY: '10.0.0.0/8',
};

/** The minimum outside production. */
const DEV: Record<string, string> = {
  POWENS_DOMAIN: 'acme-sandbox',
  POWENS_CLIENT_ID: 'client-id-123',
  POWENS_CLIENT_SECRET: CLIENT_SECRET,
};

function ok(env: Record<string, string | undefined>): Config {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${result.problems.join('\n')}`);
  return result.config;
}

function problems(env: Record<string, string | undefined>): string[] {
  const result = loadConfig(env);
  if (result.ok) throw new Error('expected configuration problems, got a valid configuration');
  return result.problems;
}

/** Exactly one problem, naming `variable`. */
function oneProblem(env: Record<string, string | undefined>, variable: string): string {
  const list = problems(env);
  expect(list).toHaveLength(1);
  expect(list[0]?.startsWith(`${variable}: `)).toBe(true);
  return list[0] ?? '';
}

function without(env: Record<string, string>, ...names: string[]): Record<string, string> {
  const copy = { ...env };
  for (const n of names) delete copy[n];
  return copy;
}

describe('a complete production environment', () => {
  it('loads, with the documented defaults', () => {
    const c = ok(PROD);
    expect(c.production).toBe(true);
    expect(c.port).toBe(3000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.publicUrl.href).toBe('https://bank.example.com/');
    expect(c.secureCookies).toBe(true);
    expect(c.powens.domain).toBe('acme-sandbox.biapi.pro');
    expect(c.powens.redirectUri).toBe('https://bank.example.com/callback');
    expect(c.powens.apiUrl).toBe('https://acme-sandbox.biapi.pro/2.0');
    expect(c.powens.webviewUrl).toBe('https://webview.powens.com');
    expect(c.powens.webviewLang).toBeUndefined();
    expect(c.redis.prefix).toBe('powens-bff:');
    expect(c.sessionSecrets).toEqual([SESSION_SECRET]);
    expect(c.tokenKeys.map((k) => k.id)).toEqual(['k1']);
    expect(c.auth).toEqual({ mode: 'header', header: 'x-user-id' });
    expect(c.appLoginUrl).toBeUndefined();
    expect(c.corsOrigins).toEqual([]);
    expect(c.trustProxy).toBe('10.0.0.0/8');
    expect(c.logLevel).toBe('info');
    expect(c.webhookHmacSecret).toBeUndefined();
    expect(c.rateLimit).toEqual({ perIp: 300, perUser: 60 });
    expect(c.generated).toEqual([]);
  });

  it('treats an empty or blank value as unset', () => {
    expect(ok({ ...PROD, LOG_LEVEL: '', PORT: '   ' }).logLevel).toBe('info');
    expect(oneProblem({ ...PROD, POWENS_CLIENT_SECRET: '  ' }, 'POWENS_CLIENT_SECRET')).toContain('required');
  });
});

describe('PORT and HOST', () => {
  it('take the values given', () => {
    const c = ok({ ...PROD, PORT: '8080', HOST: '127.0.0.1' });
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
  });

  it.each(['abc', '-1', '65536', '80.5', '1e3'])('refuse PORT=%s', (port) => {
    expect(oneProblem({ ...PROD, PORT: port }, 'PORT')).toContain('whole number from 0 to 65535');
  });
});

describe('PUBLIC_URL', () => {
  it('(P) must be https', () => {
    expect(oneProblem({ ...PROD, PUBLIC_URL: 'http://bank.example.com' }, 'PUBLIC_URL')).toContain('https');
  });

  it('(P) is required', () => {
    expect(oneProblem(without(PROD, 'PUBLIC_URL'), 'PUBLIC_URL')).toContain('required');
  });

  it('may be http outside production, and then cookies are not Secure', () => {
    const c = ok({ ...DEV, PUBLIC_URL: 'http://localhost:3000' });
    expect(c.secureCookies).toBe(false);
    expect(c.powens.redirectUri).toBe('http://localhost:3000/callback');
  });

  it.each(['bank.example.com', 'ftp://bank.example.com', 'https://bank.example.com/?a=1', 'https://user:pw@bank.example.com'])('refuses %s', (value) => {
    oneProblem({ ...PROD, PUBLIC_URL: value }, 'PUBLIC_URL');
  });
});

describe('POWENS_DOMAIN', () => {
  it('expands a bare name to <name>.biapi.pro', () => {
    expect(ok({ ...PROD, POWENS_DOMAIN: 'acme-sandbox' }).powens.domain).toBe('acme-sandbox.biapi.pro');
  });

  it('keeps a full host name', () => {
    const c = ok({ ...PROD, POWENS_DOMAIN: 'acme.biapi.pro' });
    expect(c.powens.domain).toBe('acme.biapi.pro');
    expect(c.powens.apiUrl).toBe('https://acme.biapi.pro/2.0');
  });

  it('is required, also outside production', () => {
    expect(oneProblem(without(DEV, 'POWENS_DOMAIN'), 'POWENS_DOMAIN')).toContain('required');
  });

  it.each(['https://acme.biapi.pro', 'acme.biapi.pro/2.0', 'acme sandbox', 'acme_sandbox.biapi.pro'])('refuses %s', (value) => {
    oneProblem({ ...PROD, POWENS_DOMAIN: value }, 'POWENS_DOMAIN');
  });
});

describe('POWENS_CLIENT_ID and POWENS_CLIENT_SECRET', () => {
  it.each(['POWENS_CLIENT_ID', 'POWENS_CLIENT_SECRET'])('%s is required, also outside production', (name) => {
    expect(oneProblem(without(DEV, name), name)).toContain('required');
    expect(oneProblem(without(PROD, name), name)).toContain('required');
  });
});

describe('POWENS_REDIRECT_URI, POWENS_API_URL and POWENS_WEBVIEW_URL', () => {
  it('default from PUBLIC_URL and POWENS_DOMAIN', () => {
    const c = ok({ ...PROD, PUBLIC_URL: 'https://bank.example.com/' });
    expect(c.powens.redirectUri).toBe('https://bank.example.com/callback');
    expect(c.powens.apiUrl).toBe('https://acme-sandbox.biapi.pro/2.0');
    expect(c.powens.webviewUrl).toBe('https://webview.powens.com');
  });

  it('take explicit values, without a trailing slash on the base URLs', () => {
    const c = ok({
      ...PROD,
      POWENS_REDIRECT_URI: 'https://bank.example.com/powens/callback',
      POWENS_API_URL: 'https://emulator.example.com/2.0/',
      POWENS_WEBVIEW_URL: 'https://webview.example.com//',
    });
    expect(c.powens.redirectUri).toBe('https://bank.example.com/powens/callback');
    expect(c.powens.apiUrl).toBe('https://emulator.example.com/2.0');
    expect(c.powens.webviewUrl).toBe('https://webview.example.com');
  });

  it.each(['POWENS_REDIRECT_URI', 'POWENS_API_URL', 'POWENS_WEBVIEW_URL'])('(P) %s must be https', (name) => {
    expect(oneProblem({ ...PROD, [name]: 'http://insecure.example.com/x' }, name)).toContain('https');
  });

  it.each(['POWENS_REDIRECT_URI', 'POWENS_API_URL', 'POWENS_WEBVIEW_URL'])('%s may be http outside production', (name) => {
    ok({ ...DEV, [name]: 'http://localhost:4010/x' });
  });

  it.each(['POWENS_REDIRECT_URI', 'POWENS_API_URL', 'POWENS_WEBVIEW_URL'])('%s must be an absolute http(s) URL', (name) => {
    oneProblem({ ...PROD, [name]: '/callback' }, name);
    oneProblem({ ...PROD, [name]: 'javascript:alert(1)' }, name);
  });

  it('reports an http PUBLIC_URL once, not again through the redirect URI derived from it', () => {
    expect(problems({ ...PROD, PUBLIC_URL: 'http://bank.example.com' })).toEqual(['PUBLIC_URL: must be https when NODE_ENV=production']);
    expect(problems(without(PROD, 'PUBLIC_URL')).map((p) => p.split(':')[0])).toEqual(['PUBLIC_URL']);
  });
});

describe('POWENS_WEBVIEW_LANG', () => {
  it.each([...WEBVIEW_LANGS])('accepts %s', (lang) => {
    expect(ok({ ...PROD, POWENS_WEBVIEW_LANG: lang }).powens.webviewLang).toBe(lang);
  });

  it('ignores case', () => {
    expect(ok({ ...PROD, POWENS_WEBVIEW_LANG: 'FR' }).powens.webviewLang).toBe('fr');
  });

  it('refuses another language, listing the accepted ones', () => {
    expect(oneProblem({ ...PROD, POWENS_WEBVIEW_LANG: 'xx' }, 'POWENS_WEBVIEW_LANG')).toContain('en, fr, de, nl, pt, it, es');
  });
});

describe('REDIS_URL', () => {
  it.each(['redis://localhost:6379', 'rediss://:pw@redis.example.com:6380/2'])('accepts %s', (url) => {
    expect(ok({ ...PROD, REDIS_URL: url }).redis.url).toBe(url);
  });

  it('(P) is required', () => {
    expect(oneProblem(without(PROD, 'REDIS_URL'), 'REDIS_URL')).toContain('required');
  });

  it('is optional outside production (the demo then keeps data in memory)', () => {
    expect(ok(DEV).redis.url).toBeUndefined();
  });

  it.each(['http://redis.example.com', 'localhost:6379', 'not a url'])('refuses %s', (url) => {
    expect(oneProblem({ ...PROD, REDIS_URL: url }, 'REDIS_URL')).toContain('redis:// or rediss://');
  });
});

describe('POWENS_LINK_MODE', () => {
  it('is exchange by default', () => {
    expect(ok(PROD).linkMode).toBe('exchange');
  });

  it.each(['exchange', 'init', 'INIT'])('accepts %s', (mode) => {
    expect(ok({ ...PROD, POWENS_LINK_MODE: mode }).linkMode).toBe(mode.toLowerCase());
  });

  it('refuses another mode, listing the accepted ones', () => {
    expect(oneProblem({ ...PROD, POWENS_LINK_MODE: 'create' }, 'POWENS_LINK_MODE')).toContain('exchange, init');
  });
});

describe('REDIS_MIN_REPLICAS', () => {
  it('is auto by default', () => {
    expect(ok(PROD).redis.minReplicas).toBe('auto');
  });

  it.each([
    ['0', 0],
    ['1', 1],
    ['5', 5],
    ['AUTO', 'auto'],
  ] as const)('accepts %s', (value, expected) => {
    expect(ok({ ...PROD, REDIS_MIN_REPLICAS: value }).redis.minReplicas).toBe(expected);
  });

  it.each(['6', '-1', 'one', '1.5'])('refuses %s', (value) => {
    expect(oneProblem({ ...PROD, REDIS_MIN_REPLICAS: value }, 'REDIS_MIN_REPLICAS')).toContain('auto or a whole number from 0 to 5');
  });

  it('is read by the storage tools too', () => {
    const result = loadStorageConfig({ REDIS_URL: 'redis://localhost:6379', TOKEN_ENCRYPTION_KEYS: `k1:${KEY_1}`, REDIS_MIN_REPLICAS: '1' });
    expect(result.ok && result.config.redis.minReplicas).toBe(1);
  });
});

describe('SESSION_SECRET', () => {
  it('is a comma-separated list: the first signs, all verify', () => {
    const second = 'older-session-secret-abcdefghijklmnop';
    expect(ok({ ...PROD, SESSION_SECRET: `${SESSION_SECRET}, ${second}` }).sessionSecrets).toEqual([SESSION_SECRET, second]);
  });

  it('(P) every secret must be at least 32 characters', () => {
    oneProblem({ ...PROD, SESSION_SECRET: 'x'.repeat(31) }, 'SESSION_SECRET');
    oneProblem({ ...PROD, SESSION_SECRET: `${SESSION_SECRET},short` }, 'SESSION_SECRET');
    ok({ ...PROD, SESSION_SECRET: 'x'.repeat(32) });
  });

  it('(P) is required', () => {
    oneProblem(without(PROD, 'SESSION_SECRET'), 'SESSION_SECRET');
  });

  it('outside production, a missing secret is generated for the process and reported', () => {
    const c = ok(DEV);
    expect(c.sessionSecrets).toHaveLength(1);
    expect((c.sessionSecrets[0] ?? '').length).toBeGreaterThanOrEqual(32);
    expect(c.generated).toContain('SESSION_SECRET');
  });
});

describe('TOKEN_ENCRYPTION_KEYS', () => {
  it('is a comma-separated list of keyId:base64 of 32 bytes; the first encrypts', () => {
    const c = ok({ ...PROD, TOKEN_ENCRYPTION_KEYS: `k2:${KEY_2}, k1:${KEY_1}` });
    expect(c.tokenKeys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(c.tokenKeys[0]?.key.equals(Buffer.from(KEY_2, 'base64'))).toBe(true);
  });

  it('accepts base64url key material', () => {
    const material = randomBytes(32).toString('base64url');
    expect(ok({ ...PROD, TOKEN_ENCRYPTION_KEYS: `k1:${material}` }).tokenKeys[0]?.key.toString('base64url')).toBe(material);
  });

  it('(P) is required', () => {
    oneProblem(without(PROD, 'TOKEN_ENCRYPTION_KEYS'), 'TOKEN_ENCRYPTION_KEYS');
  });

  it('outside production, a missing key is generated for the process and reported', () => {
    const c = ok(DEV);
    expect(c.tokenKeys).toHaveLength(1);
    expect(c.tokenKeys[0]?.key).toHaveLength(32);
    expect(c.generated).toContain('TOKEN_ENCRYPTION_KEYS');
  });

  it.each([
    ['no key id', KEY_1],
    ['an empty key id', `:${KEY_1}`],
    ['a key id with a dot', `k.1:${KEY_1}`],
    ['16 bytes', `k1:${randomBytes(16).toString('base64')}`],
    ['33 bytes', `k1:${randomBytes(33).toString('base64')}`],
    ['not base64', 'k1:this is not base64 at all!!!!!!!!!!!!!!'],
    ['a duplicate key id', `k1:${KEY_1},k1:${KEY_2}`],
    ['only commas', ',,'],
  ])('refuses %s, without printing key material', (_name, value) => {
    const line = oneProblem({ ...PROD, TOKEN_ENCRYPTION_KEYS: value }, 'TOKEN_ENCRYPTION_KEYS');
    expect(line).not.toContain(KEY_1);
    expect(line).not.toContain(KEY_2);
  });

  it('parseTokenKeys answers the keys or a problem', () => {
    expect(parseTokenKeys(`a:${KEY_1},b:${KEY_2}`)).toEqual([
      { id: 'a', key: Buffer.from(KEY_1, 'base64') },
      { id: 'b', key: Buffer.from(KEY_2, 'base64') },
    ]);
    expect(typeof parseTokenKeys('a:short')).toBe('string');
  });
});

describe('AUTH_MODE and AUTH_HEADER', () => {
  it('header mode takes AUTH_HEADER, lower-cased, default x-user-id', () => {
    expect(ok(PROD).auth).toEqual({ mode: 'header', header: 'x-user-id' });
    expect(ok({ ...PROD, AUTH_HEADER: 'X-Authenticated-User' }).auth).toEqual({ mode: 'header', header: 'x-authenticated-user' });
  });

  it('refuses an AUTH_HEADER that is not a header name', () => {
    oneProblem({ ...PROD, AUTH_HEADER: 'x user: id' }, 'AUTH_HEADER');
  });

  it('(P) is not demo', () => {
    expect(oneProblem({ ...PROD, AUTH_MODE: 'demo' }, 'AUTH_MODE')).toContain('demo is not allowed');
  });

  it('(P) is required', () => {
    oneProblem(without(PROD, 'AUTH_MODE'), 'AUTH_MODE');
  });

  it('is demo by default outside production', () => {
    expect(ok(DEV).auth.mode).toBe('demo');
    expect(ok({ ...DEV, AUTH_MODE: 'demo' }).auth.mode).toBe('demo');
  });

  it('refuses another mode', () => {
    expect(oneProblem({ ...PROD, AUTH_MODE: 'basic' }, 'AUTH_MODE')).toContain('header, jwt or demo');
  });
});

describe('jwt mode', () => {
  const JWT_SECRET = 'jwt-hs256-secret-value-0123456789abcdef';
  /** Production jwt mode needs the issuer and audience. */
  const JWT = { ...without(PROD, 'TRUST_PROXY'), AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: 'https://auth.example.com/', AUTH_JWT_AUDIENCE: 'bank-bff' };

  it('takes an HS256 secret, issuer, audience and cookie', () => {
    const c = ok({ ...JWT, AUTH_JWT_SECRET: JWT_SECRET, AUTH_JWT_COOKIE: 'app_session' });
    expect(c.auth).toMatchObject({ mode: 'jwt', issuer: 'https://auth.example.com/', audience: 'bank-bff', cookie: 'app_session', jwksUrl: undefined });
  });

  it('takes a JWKS URL', () => {
    const c = ok({ ...JWT, AUTH_JWKS_URL: 'https://auth.example.com/.well-known/jwks.json' });
    expect(c.auth).toMatchObject({ mode: 'jwt', secret: undefined });
    expect(c.auth.mode === 'jwt' ? c.auth.jwksUrl?.href : undefined).toBe('https://auth.example.com/.well-known/jwks.json');
  });

  it('needs a secret or a JWKS URL', () => {
    expect(oneProblem(JWT, 'AUTH_MODE')).toContain('AUTH_JWT_SECRET');
  });

  it('refuses both a secret and a JWKS URL', () => {
    oneProblem({ ...JWT, AUTH_JWT_SECRET: JWT_SECRET, AUTH_JWKS_URL: 'https://auth.example.com/jwks' }, 'AUTH_JWT_SECRET');
  });

  it('refuses a secret shorter than 32 characters, without printing it', () => {
    const line = oneProblem({ ...JWT, AUTH_JWT_SECRET: 'short-jwt-secret' }, 'AUTH_JWT_SECRET');
    expect(line).not.toContain('short-jwt-secret');
  });

  it('(P) refuses a JWKS URL over http', () => {
    oneProblem({ ...JWT, AUTH_JWKS_URL: 'http://auth.example.com/jwks' }, 'AUTH_JWKS_URL');
  });

  it('refuses a cookie name that is not one', () => {
    oneProblem({ ...JWT, AUTH_JWT_SECRET: JWT_SECRET, AUTH_JWT_COOKIE: 'a b;c' }, 'AUTH_JWT_COOKIE');
  });

  it('(P) requires the issuer and the audience: a token the provider issued for another app must not sign users in', () => {
    const bare = { ...without(JWT, 'AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'), AUTH_JWT_SECRET: JWT_SECRET };
    expect(
      problems(bare)
        .map((p) => p.split(':')[0])
        .sort(),
    ).toEqual(['AUTH_JWT_AUDIENCE', 'AUTH_JWT_ISSUER']);
    expect(oneProblem({ ...bare, AUTH_JWT_ISSUER: 'https://auth.example.com/' }, 'AUTH_JWT_AUDIENCE')).toContain('AUTH_JWT_SKIP_ISSUER_AUDIENCE');
  });

  it('(P) AUTH_JWT_SKIP_ISSUER_AUDIENCE=true is the explicit opt-out; outside production both stay optional', () => {
    const bare = { ...without(JWT, 'AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'), AUTH_JWT_SECRET: JWT_SECRET };
    expect(ok({ ...bare, AUTH_JWT_SKIP_ISSUER_AUDIENCE: 'true' }).auth).toMatchObject({ mode: 'jwt', issuer: undefined, audience: undefined });
    expect(ok({ ...DEV, AUTH_MODE: 'jwt', AUTH_JWT_SECRET: JWT_SECRET }).auth).toMatchObject({ mode: 'jwt', issuer: undefined });
  });
});

describe('APP_LOGIN_URL', () => {
  it.each(['https://app.example.com/login', '/login'])('accepts %s', (value) => {
    expect(ok({ ...PROD, APP_LOGIN_URL: value }).appLoginUrl).toBe(value);
  });

  it.each(['//evil.example/login', '/\\evil.example', 'javascript:alert(1)', 'login'])('refuses %s', (value) => {
    oneProblem({ ...PROD, APP_LOGIN_URL: value }, 'APP_LOGIN_URL');
  });
});

describe('CORS_ORIGINS', () => {
  it('is a comma-separated list of origins', () => {
    expect(ok({ ...PROD, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
  });

  it.each(['https://app.example.com/', 'https://app.example.com/path', 'app.example.com', '*'])('refuses %s', (value) => {
    oneProblem({ ...PROD, CORS_ORIGINS: value }, 'CORS_ORIGINS');
  });
});

describe('RETURN_TO_ORIGINS', () => {
  it('defaults to CORS_ORIGINS, whose first origin is the default landing', () => {
    expect(ok({ ...DEV, CORS_ORIGINS: 'http://app.localhost:5173,https://app.example.com' }).returnToOrigins).toEqual([
      'http://app.localhost:5173',
      'https://app.example.com',
    ]);
    expect(ok(DEV).returnToOrigins).toEqual([]);
  });

  it('is its own list when set, even when CORS_ORIGINS is', () => {
    expect(ok({ ...PROD, CORS_ORIGINS: 'https://api-client.example.com', RETURN_TO_ORIGINS: 'https://app.example.com' }).returnToOrigins).toEqual([
      'https://app.example.com',
    ]);
  });

  it('must be https in production; taken from CORS_ORIGINS there, its http origins are left out', () => {
    expect(oneProblem({ ...PROD, RETURN_TO_ORIGINS: 'https://app.example.com,http://app.example.com' }, 'RETURN_TO_ORIGINS')).toMatch(/https/);
    expect(ok({ ...PROD, CORS_ORIGINS: 'http://localhost:5173,https://app.example.com' }).returnToOrigins).toEqual(['https://app.example.com']);
    expect(ok({ ...DEV, RETURN_TO_ORIGINS: 'http://app.localhost:5173' }).returnToOrigins).toEqual(['http://app.localhost:5173']);
  });

  it.each(['https://app.example.com/', 'https://app.example.com/banks', 'app.example.com', '*'])('refuses %s', (value) => {
    oneProblem({ ...PROD, RETURN_TO_ORIGINS: value }, 'RETURN_TO_ORIGINS');
  });
});

describe('TRUST_PROXY', () => {
  /** A mode where any value is allowed. */
  const DEMO_DEV = { ...DEV, AUTH_MODE: 'demo' };

  it.each([
    ['true', true],
    ['false', false],
    ['1', 1],
    ['loopback, 10.0.0.0/8', 'loopback, 10.0.0.0/8'],
    ['LOOPBACK,10.0.0.0/255.0.0.0 , ::1, fd00::/8', 'loopback, 10.0.0.0/255.0.0.0, ::1, fd00::/8'],
  ] as const)('accepts %s', (value, expected) => {
    expect(ok({ ...DEMO_DEV, TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each(['yes', 'yes please;', '10.0.0.0/33', '10.0.0.0/0', '10.0.0.0/255.0.255.0', '127.1', 'loopback,', 'proxy.example.com', 'fe80::1%eth0'])(
    'refuses %s at validation, naming TRUST_PROXY (not later, with "invalid IP address")',
    (value) => {
      oneProblem({ ...DEMO_DEV, TRUST_PROXY: value }, 'TRUST_PROXY');
    },
  );

  it('accepts nothing that Express would refuse when the app sets it', () => {
    const samples = [
      'loopback',
      'linklocal, uniquelocal',
      '10.0.0.5',
      '10.0.0.0/8',
      '192.168.0.0/255.255.0.0',
      '::1',
      '2001:db8::/32',
      '::ffff:10.0.0.1',
      '::ffff:10.0.0.0/104',
    ];
    for (const value of samples) {
      const trust = ok({ ...DEMO_DEV, TRUST_PROXY: value }).trustProxy;
      expect(() => express().set('trust proxy', trust)).not.toThrow();
    }
  });

  it('is required with AUTH_MODE=header, as a list of the proxies: true or a hop count would believe anyone', () => {
    expect(oneProblem(without(PROD, 'TRUST_PROXY'), 'TRUST_PROXY')).toContain('AUTH_MODE=header');
    expect(oneProblem({ ...PROD, TRUST_PROXY: 'false' }, 'TRUST_PROXY')).toContain('required');
    expect(oneProblem({ ...PROD, TRUST_PROXY: 'true' }, 'TRUST_PROXY')).toContain('any client');
    expect(oneProblem({ ...PROD, TRUST_PROXY: '1' }, 'TRUST_PROXY')).toContain('hop count');
    expect(ok({ ...PROD, TRUST_PROXY: '10.0.0.5' }).trustProxy).toBe('10.0.0.5');
  });
});

describe('placeholders of .env.example', () => {
  it('stop start-up with a line naming each variable, in production and outside it', () => {
    const filled = { POWENS_CLIENT_ID: '<client id from the Powens console>', POWENS_CLIENT_SECRET: '<client secret from the Powens console>' };
    for (const env of [PROD, DEV]) {
      expect(problems({ ...env, ...filled }).sort()).toEqual([
        'POWENS_CLIENT_ID: is still the <placeholder> of .env.example: put the real value, or remove the line',
        'POWENS_CLIENT_SECRET: is still the <placeholder> of .env.example: put the real value, or remove the line',
      ]);
    }
    // A secret that would pass its own rule (32 characters and more) is still refused.
    oneProblem({ ...PROD, SESSION_SECRET: '<at least 32 random characters, please>' }, 'SESSION_SECRET');
  });

  it('stop the demo and the storage tools too', () => {
    const demo = loadDemoConfig({ SESSION_SECRET: '<at least 32 characters>' });
    expect(demo.ok ? [] : demo.problems.map((p) => p.split(':')[0])).toEqual(['SESSION_SECRET']);
    const storage = loadStorageConfig({ REDIS_URL: 'redis://127.0.0.1:6379', TOKEN_ENCRYPTION_KEYS: 'k1:<output of: openssl rand -base64 32>' });
    expect(storage.ok ? [] : storage.problems).toEqual([
      'TOKEN_ENCRYPTION_KEYS: is still the <placeholder> of .env.example: put the real value, or remove the line',
    ]);
  });

  it('every placeholder .env.example shows is refused', () => {
    const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const found = [...text.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=(.*<.*>.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? ''] as const);
    expect(found.length).toBeGreaterThanOrEqual(5);
    for (const [name, value] of found) {
      const list = problems({ ...DEV, [name]: value });
      expect({ name, refused: list.some((p) => p.startsWith(`${name}: is still the <placeholder>`)) }).toEqual({ name, refused: true });
    }
  });

  it('a real value with angle brackets but no words in them is kept', () => {
    expect(ok({ ...PROD, POWENS_CLIENT_SECRET: 'a<b>c-xyz' }).powens.clientSecret).toBe('a<b>c-xyz');
  });
});

describe('NODE_ENV and HOST', () => {
  it('NODE_ENV is production, development or test: `prod` would silently skip every production check', () => {
    expect(oneProblem({ ...DEV, NODE_ENV: 'prod' }, 'NODE_ENV')).toContain('production, development, test');
    expect(ok({ ...DEV, NODE_ENV: 'test' }).production).toBe(false);
  });

  it('HOST is an IP address or a host name', () => {
    expect(ok({ ...PROD, HOST: '::' }).host).toBe('::');
    expect(ok({ ...PROD, HOST: 'localhost' }).host).toBe('localhost');
    oneProblem({ ...PROD, HOST: 'local host' }, 'HOST');
  });
});

describe('LOG_LEVEL', () => {
  it('defaults to info and accepts the pino levels', () => {
    expect(ok(PROD).logLevel).toBe('info');
    expect(ok({ ...PROD, LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
  });

  it('refuses another level', () => {
    oneProblem({ ...PROD, LOG_LEVEL: 'verbose' }, 'LOG_LEVEL');
  });
});

describe('WEBHOOK_HMAC_SECRET and METRICS_TOKEN', () => {
  it.each(['WEBHOOK_HMAC_SECRET', 'METRICS_TOKEN'])('%s is optional and, when set, at least 16 characters, never printed', (name) => {
    expect(ok({ ...PROD, [name]: 'a-long-enough-secret-value' })).toBeDefined();
    const line = oneProblem({ ...PROD, [name]: 'tiny-secret' }, name);
    expect(line).not.toContain('tiny-secret');
  });
});

describe('RATE_LIMIT_PER_IP and RATE_LIMIT_PER_USER', () => {
  it('default to 300 and 60', () => {
    expect(ok(PROD).rateLimit).toEqual({ perIp: 300, perUser: 60 });
  });

  it('accept 0, which turns a limit off', () => {
    expect(ok({ ...PROD, RATE_LIMIT_PER_IP: '0', RATE_LIMIT_PER_USER: '0' }).rateLimit).toEqual({ perIp: 0, perUser: 0 });
  });

  it.each(['RATE_LIMIT_PER_IP', 'RATE_LIMIT_PER_USER'])('%s refuses a value that is not a whole number', (name) => {
    oneProblem({ ...PROD, [name]: '-5' }, name);
    oneProblem({ ...PROD, [name]: 'lots' }, name);
  });
});

describe('the other tuning variables', () => {
  it('have defaults', () => {
    const c = ok(PROD);
    expect(c.powens.timeoutMs).toBe(5000);
    expect(c.powens.retries).toBe(2);
    expect(c.redis.commandTimeoutMs).toBe(1000);
    expect(c.redis.startupTimeoutMs).toBe(10000);
    expect(c.sessionTtlSeconds).toBe(86400);
    expect(c.connectionsCacheTtlSeconds).toBe(60);
    expect(c.shutdownDelayMs).toBe(3000);
    expect(c.shutdownTimeoutMs).toBe(6000);
    expect(c.keepAliveTimeoutMs).toBe(65000);
    expect(c.headersTimeoutMs).toBe(10000);
    expect(c.requestTimeoutMs).toBe(30000);
    expect(c.maxConnections).toBe(10000);
    expect(c.webhookBodyLimitBytes).toBe(10 * 1024 * 1024);
    expect(c.webhookMaxAgeSeconds).toBe(300);
    expect(c.webhookMaxBodiesInFlight).toBe(8);
    expect(c.webhookRateLimitPerIp).toBe(1200);
  });

  it.each([
    ['POWENS_TIMEOUT_MS', '50'],
    ['POWENS_RETRIES', '6'],
    ['REDIS_COMMAND_TIMEOUT_MS', '0'],
    ['REDIS_STARTUP_TIMEOUT_MS', 'soon'],
    ['SESSION_TTL_SECONDS', '10'],
    ['CONNECTIONS_CACHE_TTL_SECONDS', '-1'],
    ['SHUTDOWN_TIMEOUT_MS', '9600'],
    ['SHUTDOWN_DELAY_MS', 'a few'],
    ['HEADERS_TIMEOUT_MS', '500'],
    ['REQUEST_TIMEOUT_MS', '0'],
    ['MAX_CONNECTIONS', '-1'],
    ['KEEP_ALIVE_TIMEOUT_MS', '10'],
    ['WEBHOOK_BODY_LIMIT_BYTES', '100'],
    ['WEBHOOK_MAX_AGE_S', '5'],
    ['WEBHOOK_MAX_BODIES_IN_FLIGHT', '0'],
    ['RATE_LIMIT_WEBHOOK_PER_IP', '-1'],
  ])('%s=%s is refused', (name, value) => {
    oneProblem({ ...PROD, [name]: value }, name);
  });

  it('SHUTDOWN_DELAY_MS plus SHUTDOWN_TIMEOUT_MS is at most 9000: the process exits within 10 s of SIGTERM', () => {
    expect(oneProblem({ ...PROD, SHUTDOWN_TIMEOUT_MS: '8000' }, 'SHUTDOWN_DELAY_MS')).toContain('3000 + 8000');
    expect(ok({ ...PROD, SHUTDOWN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '9000' }).shutdownDelayMs).toBe(0);
  });

  it('REQUEST_TIMEOUT_MS is at least HEADERS_TIMEOUT_MS', () => {
    oneProblem({ ...PROD, HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '15000' }, 'REQUEST_TIMEOUT_MS');
  });

  it('REDIS_PREFIX is kept, and refused when it could break key names', () => {
    expect(ok({ ...PROD, REDIS_PREFIX: 'bank:' }).redis.prefix).toBe('bank:');
    oneProblem({ ...PROD, REDIS_PREFIX: 'a b*' }, 'REDIS_PREFIX');
  });

  it('REDIS_SENTINELS needs REDIS_SENTINEL_NAME and host:port entries', () => {
    const c = ok({ ...PROD, REDIS_SENTINELS: 's1:26379, s2:26379', REDIS_SENTINEL_NAME: 'mymaster' });
    expect(c.redis.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ]);
    oneProblem({ ...PROD, REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINEL_NAME');
    oneProblem({ ...PROD, REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINELS');
  });

  it('REDIS_CLUSTER is a boolean, not combined with sentinels', () => {
    expect(ok({ ...PROD, REDIS_CLUSTER: 'true' }).redis.cluster).toBe(true);
    oneProblem({ ...PROD, REDIS_CLUSTER: 'maybe' }, 'REDIS_CLUSTER');
    oneProblem({ ...PROD, REDIS_CLUSTER: 'true', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'm' }, 'REDIS_CLUSTER');
  });
});

/** A production environment with one or more problems in many variables. */
const BAD: Record<string, string> = {
  NODE_ENV: 'production',
  PORT: 'eighty',
  PUBLIC_URL: 'http://bank.example.com',
  POWENS_DOMAIN: 'acme-sandbox',
  POWENS_CLIENT_ID: 'client-id-123',
  POWENS_CLIENT_SECRET: CLIENT_SECRET,
  REDIS_URL: 'http://:redis-password-77@redis.example.com',
  SESSION_SECRET: 'short-session-secret',
  TOKEN_ENCRYPTION_KEYS: `k1:${KEY_1.slice(0, 20)}`,
  AUTH_MODE: 'demo',
  WEBHOOK_HMAC_SECRET: 'tiny-hmac',
};

describe('a bad environment', () => {
  const EXPECTED = ['PORT', 'PUBLIC_URL', 'REDIS_URL', 'SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'AUTH_MODE', 'WEBHOOK_HMAC_SECRET'];

  it('lists every problem at once, one per variable, even when a number is malformed too', () => {
    const list = problems(BAD);
    expect(list.map((p) => p.slice(0, p.indexOf(':'))).sort()).toEqual([...EXPECTED].sort());
  });

  it('never includes a secret value in the problems', () => {
    const text = formatProblems(problems(BAD));
    for (const secret of [CLIENT_SECRET, 'redis-password-77', 'short-session-secret', KEY_1.slice(0, 20), 'tiny-hmac']) {
      expect(text).not.toContain(secret);
    }
  });

  it('formats one line per problem under a heading', () => {
    const list = problems(BAD);
    const lines = formatProblems(list).split('\n');
    expect(lines[0]).toBe('Configuration is not valid:');
    expect(lines.slice(1)).toEqual(list.map((p) => `  - ${p}`));
  });
});

describe('every problem at once (zod 4 skips refinements after an issue unless they have a `when`)', () => {
  const names = (list: string[]): string[] => list.map((p) => p.slice(0, p.indexOf(':'))).sort();

  it('reports a malformed number and a missing required variable together', () => {
    expect(names(problems({ ...without(DEV, 'POWENS_CLIENT_ID'), PORT: 'eighty' }))).toEqual(['PORT', 'POWENS_CLIENT_ID']);
    // With a rule between variables (required when NODE_ENV=production) as well as the fields' own checks.
    expect(names(problems({ ...without(PROD, 'POWENS_CLIENT_ID', 'SESSION_SECRET'), PORT: 'eighty', POWENS_RETRIES: '9' }))).toEqual([
      'PORT',
      'POWENS_CLIENT_ID',
      'POWENS_RETRIES',
      'SESSION_SECRET',
    ]);
  });

  it('reports every rule between variables along with the bad values of the others', () => {
    const list = problems({
      ...without(PROD, 'PUBLIC_URL', 'AUTH_MODE'),
      REDIS_SENTINELS: 's1:26379',
      REDIS_CLUSTER: 'maybe',
      SHUTDOWN_TIMEOUT_MS: 'soon',
      CORS_ORIGINS: '*',
    });
    expect(names(list)).toEqual(['AUTH_MODE', 'CORS_ORIGINS', 'PUBLIC_URL', 'REDIS_CLUSTER', 'REDIS_SENTINEL_NAME', 'SHUTDOWN_TIMEOUT_MS']);
  });

  it('a bad value of any variable never hides another problem', () => {
    const bad = ['x'.repeat(5000), '!!! ;', '-1', ','];
    for (const name of ENV_VARIABLES.filter((n) => n !== 'NODE_ENV' && n !== 'PUBLIC_URL')) {
      for (const value of bad) {
        const list = problems({ ...without(PROD, 'PUBLIC_URL'), [name]: value });
        expect({ name, value: value.slice(0, 10), found: list.some((p) => p.startsWith('PUBLIC_URL: is required')) }).toEqual({
          name,
          value: value.slice(0, 10),
          found: true,
        });
      }
    }
  });

  it('does not report a rule whose input is already reported', () => {
    // The https rule of production is not run on a PUBLIC_URL that is not a URL at all.
    expect(problems({ ...PROD, PUBLIC_URL: 'bank.example.com' })).toEqual(['PUBLIC_URL: must be an absolute http(s) URL such as https://bank.example.com']);
  });

  it('the storage profile too', () => {
    const result = loadStorageConfig({ REDIS_COMMAND_TIMEOUT_MS: 'abc', REDIS_SENTINELS: 's1:1' });
    expect(result.ok ? [] : names(result.problems)).toEqual(['REDIS_COMMAND_TIMEOUT_MS', 'REDIS_SENTINEL_NAME', 'REDIS_URL', 'TOKEN_ENCRYPTION_KEYS']);
  });
});

describe('loadDemoConfig (npm run demo)', () => {
  function demo(env: Record<string, string>): DemoConfig {
    const result = loadDemoConfig(env);
    if (!result.ok) throw new Error(`expected a valid demo configuration, got:\n${result.problems.join('\n')}`);
    return result.config;
  }

  it('needs nothing: the emulator, demo auth, and the demo defaults', () => {
    const { service, emulator } = demo({});
    expect(service.auth).toEqual({ mode: 'demo' });
    expect(service.host).toBe('127.0.0.1');
    expect(service.logLevel).toBe('warn');
    expect(service.publicUrl.href).toBe('http://localhost:3000/');
    expect(service.powens.domain).toBe('demo-sandbox.biapi.pro');
    expect(service.powens.apiUrl).toBe('http://127.0.0.1:4010/2.0');
    expect(service.powens.webviewUrl).toBe('http://localhost:4010');
    expect(service.redis.url).toBeUndefined();
    expect(emulator).toMatchObject({ port: 4010, host: '127.0.0.1', publicUrl: 'http://localhost:4010', domain: 'demo-sandbox.biapi.pro' });
    expect(emulator.clients).toEqual([
      { clientId: service.powens.clientId, clientSecret: service.powens.clientSecret, redirectUris: ['http://localhost:3000/callback'] },
    ]);
  });

  it('takes PORT, PUBLIC_URL, EMULATOR_PORT, LOG_LEVEL and HOST from the environment', () => {
    const { service, emulator } = demo({ PORT: '3100', EMULATOR_PORT: '4110', LOG_LEVEL: 'debug', HOST: '0.0.0.0' });
    expect(service.port).toBe(3100);
    expect(service.publicUrl.href).toBe('http://localhost:3100/');
    expect(service.logLevel).toBe('debug');
    expect(service.host).toBe('0.0.0.0');
    expect(emulator.port).toBe(4110);
    expect(service.powens.apiUrl).toBe('http://127.0.0.1:4110/2.0');
    expect(demo({ PUBLIC_URL: 'http://127.0.0.1:3000' }).emulator.clients[0]?.redirectUris).toEqual(['http://127.0.0.1:3000/callback']);
  });

  it("uses the emulator's client and URLs and demo auth whatever the environment says", () => {
    const { service } = demo({ AUTH_MODE: 'header', POWENS_CLIENT_SECRET: CLIENT_SECRET, POWENS_API_URL: 'https://elsewhere.example.com' });
    expect(service.auth.mode).toBe('demo');
    expect(service.powens.clientSecret).not.toBe(CLIENT_SECRET);
    expect(service.powens.apiUrl).toBe('http://127.0.0.1:4010/2.0');
  });

  it('never runs with NODE_ENV=production, and says only that', () => {
    const result = loadDemoConfig({ NODE_ENV: 'production' });
    expect(result.ok ? [] : result.problems).toEqual([
      'NODE_ENV: the demo never runs with NODE_ENV=production (it uses AUTH_MODE=demo and may keep data in memory)',
    ]);
  });

  it('wants TOKEN_ENCRYPTION_KEYS with REDIS_URL', () => {
    const result = loadDemoConfig({ REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(result.ok ? [] : result.problems.map((p) => p.split(':')[0])).toEqual(['TOKEN_ENCRYPTION_KEYS']);
    expect(demo({ REDIS_URL: 'redis://127.0.0.1:6379', TOKEN_ENCRYPTION_KEYS: `k1:${KEY_1}` }).service.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('lists every problem at once, its own variable included', () => {
    const result = loadDemoConfig({ PORT: 'x', EMULATOR_PORT: '0', WEBHOOK_HMAC_SECRET: 'tiny', REDIS_URL: 'redis://localhost' });
    expect(result.ok ? [] : result.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'EMULATOR_PORT',
      'PORT',
      'TOKEN_ENCRYPTION_KEYS',
      'WEBHOOK_HMAC_SECRET',
    ]);
  });
});

describe('.env.example', () => {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const lines = text.split('\n');
  /** `NAME=` lines, set or commented out (`# NAME=`). */
  const documented = new Set(lines.map((l) => /^(?:#\s?)?([A-Z][A-Z0-9_]*)=/.exec(l)?.[1]).filter((n): n is string => n !== undefined));

  it('documents every variable the configuration reads', () => {
    const missing = ENV_VARIABLES.filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });

  it('documents no variable that neither the configuration nor the emulator reads', () => {
    expect([...documented].filter((name) => !ENV_VARIABLES.includes(name) && !name.startsWith('EMULATOR_'))).toEqual([]);
  });

  it('puts comments on their own lines (docker-compose v1 keeps a trailing comment in the value)', () => {
    const assignments = lines.filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l));
    expect(assignments.length).toBeGreaterThan(0);
    for (const line of assignments) expect(line).not.toMatch(/\s#/);
  });

  it('quotes no value (docker-compose v1 keeps the quotes in the value)', () => {
    for (const line of lines.filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))) expect(line).not.toMatch(/=["']/);
  });

  it('gives each variable a comment', () => {
    for (const name of ENV_VARIABLES) {
      const i = lines.findIndex((l) => new RegExp(`^(?:#\\s?)?${name}=`).test(l));
      const above = lines.slice(Math.max(0, i - 6), i).filter((l) => l.startsWith('#') && !/^#\s?[A-Z][A-Z0-9_]*=/.test(l));
      expect({ name, commented: above.length > 0 }).toEqual({ name, commented: true });
    }
  });

  it('ends with the demo block, whose lines hold no placeholder', () => {
    expect(text).toContain('# --- Demo: npm run emulator + npm start, or docker compose --profile demo up ---');
    const demo = lines.filter((l) => l.startsWith('# demo: '));
    expect(demo.length).toBeGreaterThan(5);
    expect(text.trimEnd().endsWith(demo.at(-1) ?? '?')).toBe(true);
    for (const line of demo) expect(line).not.toMatch(/[<>]/);
  });
});

describe('the built entry point, started as a process with a bad environment', () => {
  let outDir = '';

  beforeAll(async () => {
    // Compiled as `npm run build` does, into a folder shared by the test files that need it.
    outDir = await buildService();
  }, BUILD_WAIT_MS);

  function run(env: Record<string, string>, cwd: string = neutralCwd()): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [join(outDir, 'main.js')], {
        cwd,
        env: { PATH: process.env.PATH ?? '', ...coverageEnv(), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolvePromise({ code, stdout, stderr });
      });
    });
  }

  const SECRETS = [CLIENT_SECRET, 'redis-password-77', 'short-session-secret', KEY_1.slice(0, 20), 'tiny-hmac'];

  it('exits 1 with one line per problem naming each variable, no secret and no stack trace', async () => {
    const { code, stdout, stderr } = await run(BAD);
    expect(code).toBe(1);
    const output = stdout + stderr;
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('Configuration is not valid:');
    const named = lines.slice(1).map((l) => /^ {2}- ([A-Z][A-Z0-9_]*): \S/.exec(l)?.[1]);
    expect(named.sort()).toEqual(['AUTH_MODE', 'PORT', 'PUBLIC_URL', 'REDIS_URL', 'SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'WEBHOOK_HMAC_SECRET']);
    for (const secret of SECRETS) expect(output).not.toContain(secret);
    expect(output).not.toMatch(/^\s+at /m);
    expect(output).not.toMatch(/Error:/);
  });

  it('exits 1 naming the missing required variables when the environment is empty', async () => {
    const { code, stderr } = await run({ NODE_ENV: 'production' });
    expect(code).toBe(1);
    for (const name of [
      'PUBLIC_URL',
      'POWENS_DOMAIN',
      'POWENS_CLIENT_ID',
      'POWENS_CLIENT_SECRET',
      'REDIS_URL',
      'SESSION_SECRET',
      'TOKEN_ENCRYPTION_KEYS',
      'AUTH_MODE',
    ]) {
      expect(stderr).toContain(`  - ${name}: `);
    }
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('reads .env in the working directory, where variables already set win, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-dotenv-'));
    try {
      // The file holds the whole configuration, and a LOG_LEVEL the environment overrides; the
      // Redis at port 9 stops start-up after the configuration was read and accepted.
      const file = Object.entries({ ...PROD, REDIS_URL: 'redis://127.0.0.1:9', REDIS_STARTUP_TIMEOUT_MS: '300', LOG_LEVEL: 'silent' });
      writeFileSync(join(dir, '.env'), file.map(([k, v]) => `${k}=${v}`).join('\n'));
      const { code, stdout, stderr } = await run({ LOG_LEVEL: 'info' }, dir);
      expect(code).toBe(1);
      expect(stderr).toContain('Redis at redis://127.0.0.1:9');
      expect(stderr).not.toContain('Configuration is not valid');
      // At info (the environment's level, not the file's), before Redis: the file was read.
      expect(stdout).toContain(`read ${join(dir, '.env')}: ${file.length - 1} variables; already set in the environment, kept: LOG_LEVEL`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on a .env copied from .env.example and left unfilled, naming each placeholder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bff-dotenv-'));
    try {
      writeFileSync(join(dir, '.env'), readFileSync(join(ROOT, '.env.example')));
      const { code, stderr } = await run({}, dir);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^read .*\.env: \d+ variables$/m);
      for (const name of ['POWENS_CLIENT_ID', 'POWENS_CLIENT_SECRET', 'SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS']) {
        expect(stderr).toContain(`  - ${name}: is still the <placeholder> of .env.example`);
      }
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with a clear line, no password and no stack trace, when Redis cannot be reached', async () => {
    const { code, stdout, stderr } = await run({
      ...PROD,
      // Port 9 (discard) on loopback: nothing listens there.
      REDIS_URL: 'redis://:redis-password-77@127.0.0.1:9',
      REDIS_STARTUP_TIMEOUT_MS: '300',
      LOG_LEVEL: 'silent',
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Redis at redis://127.0.0.1:9');
    for (const secret of SECRETS) expect(stdout + stderr).not.toContain(secret);
    expect(stdout + stderr).not.toMatch(/^\s+at /m);
  });
});
