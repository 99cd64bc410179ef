// `npm run user-ref` as support runs it: the built script as a process, configured by the
// environment (README.md, "Health and metrics"). The references it prints are the ones the
// service logs (test/integration/observability.test.ts checks the service's side against the
// same derivation, written out independently there and here).
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildService, coverageEnv, neutralCwd } from '../helpers/build.js';

jest.setTimeout(200_000);

let dist: string;
const CURRENT = { id: 'k2', key: randomBytes(32) };
const OLDER = { id: 'k1', key: randomBytes(32) };
const KEYS = [CURRENT, OLDER].map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');

beforeAll(async () => {
  dist = await buildService();
}, 200_000);

function ref(key: Buffer, userId: string): string {
  const refKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'powens-connect-bff/log-user-ref/v1', 32));
  return createHmac('sha256', refKey).update(userId, 'utf8').digest('hex').slice(0, 16);
}

async function userRef(env: Record<string, string>, args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(dist, 'scripts', 'user-ref.js'), ...args], {
    cwd: neutralCwd(),
    env: { PATH: process.env.PATH ?? '', ...coverageEnv(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin ?? '');
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

test('prints the reference under the first key on stdout, and under the older keys on stderr', async () => {
  const run = await userRef({ TOKEN_ENCRYPTION_KEYS: KEYS }, ['user-42', 'josé@example.com']);
  expect(run.code).toBe(0);
  expect(run.stdout).toBe(`${ref(CURRENT.key, 'user-42')}\n${ref(CURRENT.key, 'josé@example.com')}\n`);
  expect(run.stderr).toContain(`user 1, under the older key "k1": ${ref(OLDER.key, 'user-42')}`);
  expect(run.stderr).toContain(`user 2, under the older key "k1": ${ref(OLDER.key, 'josé@example.com')}`);
  expect(run.stderr).not.toContain('user-42');
});

test('reads one user id per line from standard input when given none', async () => {
  const run = await userRef({ TOKEN_ENCRYPTION_KEYS: KEYS }, [], 'user-42\n\nuser-43\n');
  expect(run.code).toBe(0);
  expect(run.stdout).toBe(`${ref(CURRENT.key, 'user-42')}\n${ref(CURRENT.key, 'user-43')}\n`);
});

test('without TOKEN_ENCRYPTION_KEYS, or with a malformed one, exits 1 and echoes no key', async () => {
  const missing = await userRef({}, ['user-42']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('TOKEN_ENCRYPTION_KEYS');
  expect(missing.stdout).toBe('');
  const bad = `k1:${randomBytes(12).toString('base64')}`;
  const malformed = await userRef({ TOKEN_ENCRYPTION_KEYS: bad }, ['user-42']);
  expect(malformed.code).toBe(1);
  expect(malformed.stderr).toContain('TOKEN_ENCRYPTION_KEYS');
  expect(malformed.stderr).not.toContain(bad.slice(3));
  expect(malformed.stdout).toBe('');
});

test('with no user id at all, says how to give one and exits 1', async () => {
  const run = await userRef({ TOKEN_ENCRYPTION_KEYS: KEYS }, []);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/usage: npm run user-ref/);
});
