import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ENV_VARIABLES, loadConfig } from '../../src/config.js';
import { renderEnvExample, renderReadmeTable, TABLE_END, TABLE_START, withReadmeTable } from '../../tools/env-table.js';
import { DEMO_LINE_PREFIX } from '../../tools/env-table.js';
import { CONTAINER_DEMO_ENV, EMULATOR_VARIABLES, SERVICE_VARIABLES, type Variable } from '../../src/config/variables.js';
import { emulatorEnv, EMULATOR_DEFAULTS } from '../../emulator/index.js';

/**
 * README.md's variable table and .env.example are generated from src/config/variables.ts by
 * `npm run docs:env`: a variable added, renamed or redescribed there without regenerating them
 * fails here.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const envExample = readFileSync(join(ROOT, '.env.example'), 'utf8');
const ALL: [string, Variable][] = Object.entries({ ...SERVICE_VARIABLES, ...EMULATOR_VARIABLES });

describe('generated documentation (run `npm run docs:env` when this fails)', () => {
  it("README.md's table is the one rendered from the declarations", () => {
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(readme.slice(start, end + TABLE_END.length)).toEqual(renderReadmeTable());
    expect(withReadmeTable(readme)).toBe(readme);
  });

  it('.env.example is the one rendered from the declarations', () => {
    expect(envExample).toEqual(renderEnvExample());
  });

  it('the README table has a row for every variable, the demo ones too', () => {
    const table = renderReadmeTable();
    const rows = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(ALL.map(([name]) => name).sort());
  });

  it('.env.example has a line for every variable of the service and of the emulator', () => {
    const names = new Set([...envExample.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect([...ENV_VARIABLES, ...Object.keys(EMULATOR_VARIABLES)].filter((name) => !names.has(name))).toEqual([]);
  });

  it('withReadmeTable refuses a README without the markers', () => {
    expect(() => withReadmeTable('# no table here\n')).toThrow(TABLE_START);
  });
});

describe('the declarations', () => {
  it('give every variable a one-line description, and an example or a default', () => {
    for (const [name, v] of ALL) {
      expect({ name, oneLine: v.description.trim() !== '' && !v.description.includes('\n') }).toEqual({ name, oneLine: true });
      expect({ name, shown: (v.example ?? v.default) !== undefined }).toEqual({ name, shown: true });
    }
  });

  it('have defaults and examples that are valid values (placeholders aside)', () => {
    for (const [name, v] of ALL) {
      for (const value of [v.default, v.example]) {
        if (value === undefined || value.includes('<')) continue;
        const parsed = v.field.safeParse(value);
        expect({ name, value, ok: parsed.success }).toEqual({ name, value, ok: true });
      }
    }
  });

  it("show no secret's value: a secret's example is a <placeholder> or carries no credentials", () => {
    for (const [name, v] of ALL.filter(([, v]) => v.secret === true)) {
      const example = v.example ?? '';
      const safe = example.includes('<') || (URL.canParse(example) && new URL(example).password === '');
      expect({ name, safe }).toEqual({ name, safe: true });
    }
  });

  it('let the demo block of .env.example start the service as docker-compose.yml runs it', () => {
    const env: Record<string, string> = { NODE_ENV: 'production' }; // the image's ENV, overridden by .env
    for (const [name, value] of CONTAINER_DEMO_ENV) env[name] = value;
    // docker-compose.yml's `environment:` of the bff service.
    Object.assign(env, { REDIS_URL: 'redis://redis:6379', HOST: '0.0.0.0', PORT: '3000' });
    const result = loadConfig(env);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.auth.mode).toBe('demo');
    // The emulator shares the service's network in compose: localhost is the emulator there too.
    expect(result.config.powens.apiUrl).toBe('http://localhost:4010/2.0');
    expect(result.config.powens.redirectUri).toBe('http://localhost:3000/callback');
    expect(result.config.generated.sort()).toEqual(['SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS']);
  });

  it('let the demo block, extracted as .env.example says, start the service as npm start does', () => {
    const lines = envExample.split('\n').filter((l) => l.startsWith(DEMO_LINE_PREFIX));
    expect(lines.map((l) => l.slice(DEMO_LINE_PREFIX.length))).toEqual(CONTAINER_DEMO_ENV.map(([name, value]) => `${name}=${value}`));
    const result = loadConfig(Object.fromEntries(CONTAINER_DEMO_ENV));
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it("let the demo block agree with the emulator's defaults: its client, secret, domain, URLs and callback", () => {
    const demo = Object.fromEntries(CONTAINER_DEMO_ENV);
    const result = loadConfig(demo);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const { options, problems } = emulatorEnv({});
    expect(problems).toEqual([]);
    expect(options.clients).toEqual([
      { clientId: demo['POWENS_CLIENT_ID'], clientSecret: demo['POWENS_CLIENT_SECRET'], redirectUris: [result.config.powens.redirectUri] },
    ]);
    expect(result.config.powens.domain).toBe(options.domain);
    expect(result.config.powens.apiUrl).toBe(`${options.publicUrl}/2.0`);
    expect(result.config.powens.webviewUrl).toBe(options.publicUrl);
  });

  it('declare the variables the emulator reads, with its defaults (emulator/env.ts cannot import them)', () => {
    expect(Object.keys(EMULATOR_DEFAULTS).sort()).toEqual(Object.keys(EMULATOR_VARIABLES).sort());
    for (const [name, v] of Object.entries(EMULATOR_VARIABLES)) {
      expect({ name, default: v.default ?? '' }).toEqual({ name, default: EMULATOR_DEFAULTS[name as keyof typeof EMULATOR_DEFAULTS] });
    }
  });
});

describe("the emulator's settings (npm run emulator)", () => {
  it('names each bad variable, all at once', () => {
    const { problems } = emulatorEnv({ EMULATOR_PORT: 'x', EMULATOR_PUBLIC_URL: 'ftp://a', EMULATOR_REDIRECT_URIS: 'nope', EMULATOR_CONTROL_PORT: '99999' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['EMULATOR_CONTROL_PORT', 'EMULATOR_PORT', 'EMULATOR_PUBLIC_URL', 'EMULATOR_REDIRECT_URIS']);
  });

  it('take the values given, blank counting as unset, the public URL following the port', () => {
    const { options } = emulatorEnv({ EMULATOR_PORT: '4100', EMULATOR_CLIENT_ID: ' ', EMULATOR_CONTROL_PORT: '4101', EMULATOR_DOMAIN: 'Acme.biapi.pro' });
    expect(options).toMatchObject({ port: 4100, publicUrl: 'http://localhost:4100', controlPort: 4101, controlHost: '127.0.0.1', domain: 'acme.biapi.pro' });
    expect(options.clients?.[0]?.clientId).toBe('demo-client');
  });
});
