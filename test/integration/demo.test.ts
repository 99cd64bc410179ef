import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { completeWebview } from '../../emulator/index.js';
import { Browser } from '../helpers/browser.js';
import { BUILD_WAIT_MS, buildDemo, coverageEnv, neutralCwd, ROOT } from '../helpers/build.js';
import { freePort } from '../helpers/redis-server.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

/** `npm run demo` is `node build/demo/main.js` after its build: the same entry, from the test build. */
let outDir: string;
beforeAll(async () => {
  outDir = await buildDemo();
}, BUILD_WAIT_MS);

interface Demo {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function runDemo(env: Record<string, string>): Demo {
  const proc = spawn(process.execPath, [join(outDir, 'demo', 'main.js')], {
    cwd: neutralCwd(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? ROOT, ...coverageEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

function until(demo: Demo, text: string): Promise<void> {
  return waitFor(() => demo.output().includes(text), {
    timeoutMs: 15_000,
    what: `the demo to print ${JSON.stringify(text)}`,
    giveUpIf: () => (demo.proc.exitCode !== null ? `the demo exited early (code ${demo.proc.exitCode})` : undefined),
    detail: () => demo.output(),
  });
}

/** The demo's exit code, once it has exited (within 10 s). */
function exitCode(demo: Demo): Promise<number | null> {
  return withinDeadline(demo.exited, 10_000, 'the demo to exit');
}

test('with no Redis the demo says its store is in memory, prints the URL, and runs the whole flow', async () => {
  const port = await freePort();
  const demo = runDemo({ PORT: String(port), EMULATOR_PORT: String(await freePort()) });
  try {
    const url = `http://localhost:${port}`;
    await until(demo, `Open ${url}`);
    expect(demo.output()).toMatch(/^Store: in memory/m);

    const b = new Browser(url, { 'x-csrf': '1', 'content-type': 'application/json' });
    expect((await b.get('/')).location).toBe('/demo/sign-in?return_to=%2F');
    expect((await b.request('POST', '/demo/session', { body: JSON.stringify({ userId: 'demo-person' }) })).status).toBe(204);
    const connect = await b.get('/connect');
    expect(connect.status).toBe(302);
    const back = await completeWebview(connect.location ?? '', { kind: 'connect' });
    const callback = await b.get(back.href);
    expect(callback.status).toBe(303);
    const list = JSON.parse((await b.get('/me/connections')).text) as { linked: boolean; connections: { status: string }[] };
    expect(list.linked).toBe(true);
    expect(list.connections.map((c) => c.status)).toEqual(['ok']);
  } finally {
    demo.proc.kill('SIGTERM');
    expect(await exitCode(demo)).toBe(0);
  }
}, 30_000);

test('with REDIS_URL but no TOKEN_ENCRYPTION_KEYS the demo refuses to start and says why', async () => {
  const demo = runDemo({
    PORT: String(await freePort()),
    EMULATOR_PORT: String(await freePort()),
    REDIS_URL: 'redis://127.0.0.1:1',
  });
  expect(await exitCode(demo)).toBe(1);
  expect(demo.output()).toMatch(/^TOKEN_ENCRYPTION_KEYS: /m);
});

test('the demo never runs with NODE_ENV=production', async () => {
  const demo = runDemo({ NODE_ENV: 'production', PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()) });
  expect(await exitCode(demo)).toBe(1);
  expect(demo.output()).toMatch(/NODE_ENV=production/);
});
