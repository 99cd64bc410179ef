// `npm run emulator` as a user runs it: the built emulator/main.js as a process, configured by
// EMULATOR_* variables and .env (README.md, "Try it"; .env.example, "Emulator and demo").
import { jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEmulator, neutralCwd, stopChild } from '../helpers/build.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

jest.setTimeout(120_000);

let dir: string;
const running: ChildProcess[] = [];
beforeAll(async () => {
  dir = await buildEmulator(); // main.js, as `npm run emulator` builds it
});
afterAll(() => {
  for (const child of running) stopChild(child);
});

/** Starts the emulator; resolves with its start lines once it has printed them all. */
async function emulator(env: Record<string, string>, cwd = neutralCwd()): Promise<{ out: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(dir, 'main.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // An emulator that exits is answered as is: its output says why, for the test to check.
  await waitFor(() => /POWENS_CLIENT_SECRET=/.test(out) || child.exitCode !== null, {
    timeoutMs: 30_000,
    intervalMs: 20,
    what: 'the emulator to print its start lines',
    detail: () => out,
  });
  return { out, child };
}

test('its start line prints what the service needs in .env: the domain, the API and webview URLs, the client and its secret', async () => {
  const port = await freePort();
  const { out } = await emulator({ EMULATOR_PORT: String(port) });
  expect(out).toContain(`Powens emulator listening on http://127.0.0.1:${port}`);
  for (const line of [
    'POWENS_DOMAIN=demo-sandbox.biapi.pro',
    `POWENS_API_URL=http://localhost:${port}/2.0`,
    `POWENS_WEBVIEW_URL=http://localhost:${port}`,
    'POWENS_CLIENT_ID=demo-client',
    'POWENS_CLIENT_SECRET=demo-secret-not-for-production',
  ]) {
    expect(out).toContain(`  ${line}\n`);
  }
  // The API answers with that client.
  const init = await fetch(`http://127.0.0.1:${port}/2.0/auth/init`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'demo-client', client_secret: 'demo-secret-not-for-production' }),
  });
  expect(init.status).toBe(200);
});

test('reads .env, prints no custom secret, and serves the control API on EMULATOR_CONTROL_PORT only', async () => {
  const [port, control] = [await freePort(), await freePort()];
  const cwd = mkdtempSync(join(tmpdir(), 'emulator-dotenv-'));
  try {
    writeFileSync(join(cwd, '.env'), `EMULATOR_CLIENT_ID=acme\nEMULATOR_CLIENT_SECRET=acme-secret-123456\nEMULATOR_CONTROL_PORT=${control}\n`);
    const { out } = await emulator({ EMULATOR_PORT: String(port) }, cwd);
    expect(out).toContain(`(read ${join(cwd, '.env')})`);
    expect(out).toContain('  POWENS_CLIENT_ID=acme\n');
    expect(out).toContain('  POWENS_CLIENT_SECRET=<the value of EMULATOR_CLIENT_SECRET>\n');
    expect(out).not.toContain('acme-secret-123456');
    expect(out).toContain(`control   http://127.0.0.1:${control}/__emulator`);
    expect((await fetch(`http://127.0.0.1:${port}/__emulator/info`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${control}/__emulator/info`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${control}/healthz`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('a bad variable stops it with a line naming it', async () => {
  const child = spawn(process.execPath, [join(dir, 'main.js')], {
    cwd: neutralCwd(),
    env: { PATH: process.env.PATH ?? '', EMULATOR_PORT: 'x', EMULATOR_PUBLIC_URL: 'ftp://nope' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  expect(code).toBe(1);
  expect(err.split('\n').filter(Boolean).sort()).toEqual(['EMULATOR_PORT: must be a port number (0-65535)', 'EMULATOR_PUBLIC_URL: must be an http(s) URL']);
});
