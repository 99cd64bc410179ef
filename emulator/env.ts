/**
 * The emulator's settings for `npm run emulator` and its container: EMULATOR_* variables, from
 * the environment and from `.env` in the working directory (variables already set win), the
 * same file `npm start` reads. Their defaults are the demo block of .env.example (client
 * `demo-client`, its secret, the callback on http://localhost:3000), so that block works with
 * the emulator as it is. The emulator imports nothing from src/: the service's configuration
 * declares the same names and defaults for the docs, and test/unit/env-docs.test.ts holds the
 * two together.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { DEFAULT_CLIENT, DEFAULT_DOMAIN } from './app.js';
import { DEFAULT_TIME_ZONE, knownTimeZone } from './util.js';
import type { StartEmulatorOptions } from './server.js';

/** Every variable the emulator reads, with its default ('' when it has none). */
export const EMULATOR_DEFAULTS = {
  EMULATOR_PORT: '4010',
  EMULATOR_HOST: '127.0.0.1',
  EMULATOR_PUBLIC_URL: 'http://localhost:${EMULATOR_PORT}',
  EMULATOR_DOMAIN: DEFAULT_DOMAIN,
  EMULATOR_CLIENT_ID: DEFAULT_CLIENT.clientId,
  EMULATOR_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
  EMULATOR_REDIRECT_URIS: DEFAULT_CLIENT.redirectUris.join(','),
  EMULATOR_CONTROL_PORT: '',
  EMULATOR_CONTROL_HOST: '127.0.0.1',
  EMULATOR_TIMEZONE: DEFAULT_TIME_ZONE,
} as const;

export interface EmulatorEnv {
  options: StartEmulatorOptions & { port: number; publicUrl: string; domain: string };
  /** One line per problem, naming the variable. */
  problems: string[];
}

/** Sets, from `.env` in `dir`, the variables `env` does not have yet; answers the file read, if any. */
export function readDotEnv(env: Record<string, string | undefined>, dir: string): string | undefined {
  const path = join(dir, '.env');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  for (const [name, value] of Object.entries(parseEnv(text))) if (env[name] === undefined) env[name] = value;
  return path;
}

function port(value: string, name: string, problems: string[]): number | undefined {
  if (/^[0-9]{1,5}$/.test(value) && Number(value) <= 65535) return Number(value);
  problems.push(`${name}: must be a port number (0-65535)`);
  return undefined;
}

function httpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The emulator's start options from EMULATOR_* (blank counts as unset), or every problem at once. */
export function emulatorEnv(env: Record<string, string | undefined>): EmulatorEnv {
  const problems: string[] = [];
  const get = (name: keyof typeof EMULATOR_DEFAULTS): string => {
    const v = env[name]?.trim() ?? '';
    return v === '' ? EMULATOR_DEFAULTS[name] : v;
  };
  const listenPort = port(get('EMULATOR_PORT'), 'EMULATOR_PORT', problems) ?? 4010;
  const publicUrl = get('EMULATOR_PUBLIC_URL').replace('${EMULATOR_PORT}', String(listenPort)).replace(/\/+$/, '');
  if (!httpUrl(publicUrl)) problems.push('EMULATOR_PUBLIC_URL: must be an http(s) URL');
  const redirectUris = get('EMULATOR_REDIRECT_URIS')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (!redirectUris.every((u) => httpUrl(u.replace(/:\*$/, ':1')))) problems.push('EMULATOR_REDIRECT_URIS: must be a comma-separated list of http(s) URLs');
  const options: EmulatorEnv['options'] = {
    port: listenPort,
    host: get('EMULATOR_HOST'),
    publicUrl,
    // A bare name means <name>.biapi.pro, as the service reads POWENS_DOMAIN.
    domain: ((d) => (d.includes('.') ? d : `${d}.biapi.pro`))(get('EMULATOR_DOMAIN').toLowerCase()),
    clients: [{ clientId: get('EMULATOR_CLIENT_ID'), clientSecret: get('EMULATOR_CLIENT_SECRET'), redirectUris }],
  };
  const timeZone = get('EMULATOR_TIMEZONE');
  if (knownTimeZone(timeZone)) options.timeZone = timeZone;
  else problems.push('EMULATOR_TIMEZONE: must be an IANA time zone such as Europe/Paris or UTC');
  const controlPort = get('EMULATOR_CONTROL_PORT');
  if (controlPort !== '') {
    const p = port(controlPort, 'EMULATOR_CONTROL_PORT', problems);
    if (p !== undefined) options.controlPort = p;
    options.controlHost = get('EMULATOR_CONTROL_HOST');
  }
  return { options, problems };
}
