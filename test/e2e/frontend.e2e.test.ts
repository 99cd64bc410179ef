/**
 * README's frontend example in a real browser, and the demo's pages where they are hardest:
 * headless Debian Chromium (never a downloaded one) driven by playwright-core, against
 * `node build/demo/main.js` (the built service and its Powens emulator) and a redis-server of
 * the test's own.
 *
 * The service runs as http://bank.example.com:<port> and README's page is served by this test
 * as http://app.example.com:<port>: two origins of one site, as a real deployment has them
 * (Chromium's --host-resolver-rules points both names at 127.0.0.1; nothing leaves the
 * machine). Same-site matters: the session cookie is SameSite=Lax, so the frontend's
 * credentialed fetch carries it only between same-site origins (`app.localhost` and
 * `bank.localhost` are different sites to Chromium). Screenshots go to test/e2e/screenshots/
 * (git-ignored), one of them at 390 px wide.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { t } from '../../src/i18n/index.js';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = join(ROOT, 'test/e2e/screenshots');
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let redis: TestRedis;
let demo: ChildProcess;
let demoOutput = '';
let frontend: Server;
let bank: string;
let bankPort: number;
let app: string;
let emulator: string;
let browser: Browser;
const problems: string[] = [];
const contexts: BrowserContext[] = [];

/** README's example, between its markers, as the app would serve it: pointed at this run's service. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- frontend-example:start -->\s*```html\n([\s\S]*?)```\s*<!-- frontend-example:end -->/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no frontend example between its markers');
  if (!block.includes("'https://bank.example.com'")) throw new Error('the README example no longer names https://bank.example.com');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App</title></head><body>\n${block.replace("'https://bank.example.com'", `'${bank}'`)}</body></html>`;
}

async function startFrontend(port: number): Promise<void> {
  const page = readmeExample();
  frontend = createServer((req, res) => {
    // Any path: the example sends the user back to whichever page it is on.
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
  });
  await new Promise<void>((listening) => frontend.listen(port, '127.0.0.1', listening));
}

/** `node build/demo/main.js` as bank.example.com, with the frontend's origin allowed; ready when it says where to go. */
async function startDemo(port: number, emulatorPort: number): Promise<void> {
  const entry = join(ROOT, 'build/demo/main.js');
  if (!existsSync(entry)) throw new Error('build/demo/main.js is missing: run `npm run e2e` (it builds first)');
  demo = spawn(process.execPath, [entry], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? ROOT,
      NODE_ENV: 'development',
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: bank,
      // RETURN_TO_ORIGINS defaults to it: return_to may name the frontend.
      CORS_ORIGINS: app,
      EMULATOR_PORT: String(emulatorPort),
      REDIS_URL: redis.url,
      REDIS_PREFIX: `e2e-front-${randomBytes(4).toString('hex')}:`,
      TOKEN_ENCRYPTION_KEYS: `e2e:${randomBytes(32).toString('base64')}`,
      LOG_LEVEL: 'warn',
    },
  });
  demo.stdout?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
  demo.stderr?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
  await new Promise<void>((ready, fail) => {
    const deadline = setTimeout(() => fail(new Error(`the demo did not print "Open ${bank}" within 30 s:\n${demoOutput}`)), 30_000);
    const check = (): void => {
      if (!demoOutput.includes(`Open ${bank}`)) return;
      clearTimeout(deadline);
      ready();
    };
    demo.stdout?.on('data', check);
    demo.once('exit', (code) => {
      clearTimeout(deadline);
      fail(new Error(`the demo exited (${String(code)}) before it was ready:\n${demoOutput}`));
    });
  });
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  redis = await startTestRedis();
  const [appPort, emulatorPort] = [await freePort(), await freePort()];
  bankPort = await freePort();
  bank = `http://bank.example.com:${bankPort}`;
  app = `http://app.example.com:${appPort}`;
  emulator = `http://localhost:${emulatorPort}`;
  await startFrontend(appPort);
  await startDemo(bankPort, emulatorPort);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, '--host-resolver-rules=MAP *.example.com 127.0.0.1'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (demo !== undefined && demo.exitCode === null) {
    const exited = new Promise((done) => demo.once('exit', done));
    demo.kill('SIGTERM');
    await exited;
  }
  await new Promise((closed) => frontend?.close(closed));
  await redis?.close();
});

/** A browser profile of its own; any script error, CSP violation or failed load on the way is recorded. */
async function newPage(options: { width: number; locale?: string }): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: options.width, height: 844 },
    locale: options.locale ?? 'en-US',
  });
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    // Failed loads are the error pages and failed lists these tests cause. Chromium also
    // reports that it ignores Cross-Origin-Opener-Policy on plain http under a name other than
    // localhost (this run's bank.example.com); a deployment serves https.
    const expected = m.text().startsWith('Failed to load resource') || m.text().startsWith('The Cross-Origin-Opener-Policy header has been ignored');
    if (m.type() === 'error' && !expected) problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

/**
 * Each test leaves Powens as it found it: its user unlinked through the service, with the
 * browser's session cookie (sent from here to 127.0.0.1: only Chromium knows bank.example.com).
 */
afterEach(async () => {
  for (const context of contexts.splice(0)) {
    const cookie = (await context.cookies(bank)).map((c) => `${c.name}=${c.value}`).join('; ');
    const res = await fetch(`http://127.0.0.1:${bankPort}/me/connections`, { method: 'DELETE', headers: { cookie, 'x-csrf': '1' } });
    if (res.status !== 204 && res.status !== 401) throw new Error(`unlinking after the test answered ${res.status}`);
    await context.close();
  }
});

interface Layout {
  width: number;
  scrollWidth: number;
  /** Elements whose box leaves the viewport, as `tag#id left..right`. */
  outside: string[];
  signOut: { left: number; right: number };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, userId: string, returnTo?: string): Promise<void> {
  await page.goto(`${bank}/demo/sign-in${returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`}`);
  await page.fill('#user-id-input', userId);
  await page.click('#sign-in button[type=submit]');
}

/** Plays the emulator's webview: picks `bank`, types `login`, connects. */
async function webview(page: Page, lang: string, bankName: string, login: string): Promise<void> {
  await page.waitForURL(`${emulator}/${lang}/connect?**`);
  await page.getByLabel(bankName).check();
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'secret');
  await page.click('button[value=connect]');
}

async function emulatorKnob(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${emulator}/__emulator${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`emulator knob ${path} answered ${res.status}: ${await res.text()}`);
}

describe('README’s frontend on another origin', () => {
  test('starts the flow with return_to, gets its user back from the webview, and lists the connection through CORS', async () => {
    const page = await newPage({ width: 1100 });
    // The demo's sign-in takes the frontend as its return_to, like any return path.
    await signIn(page, 'e2e-frontend', `${app}/banks`);
    await page.waitForURL(`${app}/banks`);
    await page.locator('#banks[aria-busy="false"]').waitFor({ state: 'attached' });
    expect(await page.locator('#banks li').count()).toBe(0);
    expect(await page.getAttribute('#connect', 'href')).toBe(`${bank}/connect?return_to=${encodeURIComponent(`${app}/banks`)}`);

    await page.click('#connect');
    await webview(page, 'en', 'Demo Bank', 'alice');
    await page.waitForURL(new RegExp(`^${app.replaceAll('.', '\\.')}/banks\\?connection_id=\\d+$`));
    const connectionId = new URL(page.url()).searchParams.get('connection_id');
    await page.locator('#banks[aria-busy="false"]').waitFor({ state: 'attached' });
    const items = page.locator('#banks li');
    expect(await items.count()).toBe(1);
    expect(await items.first().getAttribute('data-connection-id')).toBe(connectionId);
    expect(await items.first().textContent()).toBe('Demo Bank: ok');
    await shot(page, 'frontend-01-listed-on-the-app');

    // A flow that names no way back lands on the frontend's origin (the first of RETURN_TO_ORIGINS).
    await page.goto(`${bank}/connect`);
    await webview(page, 'en', 'Demo Bank', 'alice');
    await page.waitForURL(new RegExp(`^${app.replaceAll('.', '\\.')}/\\?connection_id=\\d+$`));
    await page.locator('#banks[aria-busy="false"]').waitFor({ state: 'attached' });
    expect(await page.locator('#banks li').count()).toBe(2);
  });
});

describe('the demo tells the truth, in French, at 390 px', () => {
  test('a long user id keeps "Sign out" on screen, and a connection that needs the user is not announced as connected', async () => {
    const page = await newPage({ width: 390, locale: 'fr-FR' });
    const longId = `e2e-${'tres-long-identifiant-'.repeat(5)}${'x'.repeat(14)}`.slice(0, 128);
    await signIn(page, longId, '/');
    await page.waitForURL(`${bank}/`);
    expect(await page.textContent('h1')).toBe(t('fr', 'demo.home.title'));
    await page.locator('#connections[aria-busy="false"]').waitFor();

    await page.click('#add-connection');
    // The test connector creates the connection in the state typed as the login.
    await webview(page, 'fr', 'Connecteur de test', 'SCARequired');
    await page.waitForURL(`${bank}/`);
    const notice = page.locator('#notice');
    await notice.waitFor();
    expect(await notice.textContent()).toBe(t('fr', 'demo.notice.actionNeeded', { bank: 'Connecteur de test' }));
    expect(await notice.getAttribute('class')).toContain('warn');
    expect(await page.locator('li.connection .badge').textContent()).toBe(t('fr', 'demo.status.action_needed'));
    expect(await page.textContent('body')).not.toContain(t('fr', 'demo.notice.connected', { bank: 'Connecteur de test' }));
    await shot(page, 'frontend-02-demo-fr-390px');

    // Nothing wider than the screen: no horizontal scroll, every box within the 390 px.
    // (A string: this file is compiled without the DOM's types.)
    const layout = await page.evaluate<Layout>(`(() => {
      const width = window.innerWidth;
      const outside = [...document.querySelectorAll('body *')]
        .map((el) => ({ el, box: el.getBoundingClientRect() }))
        .filter(({ box }) => box.width > 0 && (box.right > width + 0.5 || box.left < -0.5))
        .map(({ el, box }) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + Math.round(box.left) + '..' + Math.round(box.right));
      const signOut = document.getElementById('sign-out').getBoundingClientRect();
      return { width, scrollWidth: document.documentElement.scrollWidth, outside, signOut: { left: signOut.left, right: signOut.right } };
    })()`);
    expect(layout.width).toBe(390);
    expect(layout.outside).toEqual([]);
    expect(layout.scrollWidth).toBeLessThanOrEqual(390);
    expect(layout.signOut.left).toBeGreaterThanOrEqual(0);
    expect(layout.signOut.right).toBeLessThanOrEqual(390);
    expect(await page.isVisible('#sign-out')).toBe(true);
  });

  test('a list that fails to load after a flow is not "connected"', async () => {
    const page = await newPage({ width: 1100 });
    await signIn(page, 'e2e-list-fails', '/');
    await page.waitForURL(`${bank}/`);
    await page.locator('#connections[aria-busy="false"]').waitFor();
    await page.click('#add-connection');
    await emulatorKnob('/fail', { endpoint: 'connections.list', status: 500, times: 100 });
    try {
      await webview(page, 'en', 'Demo Bank', 'alice');
      await page.waitForURL(`${bank}/`);
      const notice = page.locator('#notice');
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(/^The bank connection is finished, but your list could not be loaded: /);
      expect(await notice.getAttribute('class')).toContain('error');
      expect(await page.textContent('body')).not.toContain('is connected');
      await shot(page, 'frontend-03-list-failed');
    } finally {
      await emulatorKnob('/reset', {});
    }
    // Powens answers again. The service keeps a Powens failure for 3 s (one call per user during an
    // outage, docs/RELIABILITY.md), so a reload within that time may still show it; a later one
    // lists the connection.
    await waitFor(
      async () => {
        await page.reload();
        await page.locator('#connections[aria-busy="false"]').waitFor();
        return (await page.locator('li.connection').count()) > 0;
      },
      { timeoutMs: 15_000, intervalMs: 1000, what: 'the list to load once Powens answers again' },
    );
    expect(await page.locator('li.connection .badge').textContent()).toBe('OK');
  });

  test('no script error, CSP violation or failed load happened on the way, and Powens holds no user', async () => {
    expect(problems).toEqual([]);
    const snapshot = (await fetch(`${emulator}/__emulator/snapshot`).then((r) => r.json())) as { users: unknown[] };
    expect(snapshot.users).toEqual([]);
  });
});
