import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ENV_VARIABLES, loadConfig } from '../../src/config.js';
import { renderEnvExample, renderReadmeTable, TABLE_END, TABLE_START, withReadmeTable } from '../../src/config/docs.js';
import { CONTAINER_DEMO_ENV, DEMO_VARIABLES, SERVICE_VARIABLES, type Variable } from '../../src/config/variables.js';

/**
 * README.md's variable table and .env.example are generated from src/config/variables.ts by
 * `npm run docs:env`: a variable added, renamed or redescribed there without regenerating them
 * fails here.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const envExample = readFileSync(join(ROOT, '.env.example'), 'utf8');
const ALL: [string, Variable][] = Object.entries({ ...SERVICE_VARIABLES, ...DEMO_VARIABLES });

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

  it('.env.example has a line for every variable of the service and none of the demo', () => {
    const names = new Set([...envExample.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect(ENV_VARIABLES.filter((name) => !names.has(name))).toEqual([]);
    for (const name of Object.keys(DEMO_VARIABLES)) expect(names.has(name)).toBe(false);
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

  it('let the container demo block of .env.example start the service as docker-compose.yml runs it', () => {
    const fill: Record<string, string> = {
      SESSION_SECRET: randomBytes(36).toString('base64'),
      TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    };
    const env: Record<string, string> = { NODE_ENV: 'production' }; // the image's ENV, overridden by .env
    for (const [name, value] of CONTAINER_DEMO_ENV) env[name] = value.includes('<') ? (fill[name] ?? '') : value;
    // docker-compose.yml's `environment:` of the bff service.
    Object.assign(env, { REDIS_URL: 'redis://redis:6379', HOST: '0.0.0.0', PORT: '3000' });
    const result = loadConfig(env);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.auth.mode).toBe('demo');
    expect(result.config.powens.apiUrl).toBe('http://emulator:4010/2.0');
    expect(result.config.powens.redirectUri).toBe('http://localhost:3000/callback');
    expect(result.config.generated).toEqual([]);
  });
});
