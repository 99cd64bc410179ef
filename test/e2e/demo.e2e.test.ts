/**
 * The demo in a real browser: headless Debian Chromium (never a downloaded one) driven by
 * playwright-core through `node build/demo/main.js` (the built service and its Powens emulator, in
 * demo mode) against a redis-server of the test's own. `npm run e2e` builds it first.
 * Screenshots of each step go to test/e2e/screenshots/ (git-ignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort, startTestRedis, type TestRedis } from '../helpers/redis-server.js';
import { neutralCwd } from '../helpers/build.js';
import { waitFor, withinDeadline } from '../helpers/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = join(ROOT, 'test/e2e/screenshots');
const CHROMIUM = '/usr/bin/chromium';
const WEBHOOK_SECRET = randomBytes(24).toString('base64url');
const USER = 'e2e-alice';

let redis: TestRedis;
let demo: ChildProcess;
let demoOutput = '';
let base: string;
let emulator: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const problems: string[] = [];

/** Starts `node build/demo/main.js` on free ports and waits for the line that says where to go. */
async function startDemo(): Promise<void> {
  const entry = join(ROOT, 'build/demo/main.js');
  if (!existsSync(entry)) throw new Error('build/demo/main.js is missing: run `npm run e2e` (it builds first)');
  const [port, emulatorPort] = [await freePort(), await freePort()];
  base = `http://localhost:${port}`;
  emulator = `http://localhost:${emulatorPort}`;
  demo = spawn(process.execPath, [entry], {
    cwd: neutralCwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
    // A clean environment: nothing of the test runner's (NODE_OPTIONS, a developer's .env values).
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? ROOT,
      NODE_ENV: 'development',
      PORT: String(port),
      EMULATOR_PORT: String(emulatorPort),
      REDIS_URL: redis.url,
      REDIS_PREFIX: `e2e-${randomBytes(4).toString('hex')}:`,
      // With Redis the demo wants a stable key (tokens must open after a restart).
      TOKEN_ENCRYPTION_KEYS: `e2e:${randomBytes(32).toString('base64')}`,
      WEBHOOK_HMAC_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: 'warn',
    },
  });
  demo.stdout?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
  demo.stderr?.on('data', (chunk: Buffer) => (demoOutput += chunk.toString()));
  await waitFor(() => demoOutput.includes(`Open ${base}`), {
    timeoutMs: 30_000,
    what: `the demo to print "Open ${base}"`,
    giveUpIf: () => (demo.exitCode !== null ? `the demo exited (${demo.exitCode}) before it was ready` : undefined),
    detail: () => demoOutput,
  });
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** An emulator knob, over HTTP as a separate process would use it. */
async function knob(path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${emulator}/__emulator${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`emulator knob ${path} answered ${res.status}: ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

function connection(id: string) {
  return page.locator(`li.connection[data-connection-id="${id}"]`);
}

/** Reloads the home page until the connection shows `label` (webhook work runs after its answer). */
async function waitForBadge(id: string, label: string): Promise<void> {
  await waitFor(
    async () => {
      await page.reload();
      await page.locator('#connections[aria-busy="false"]').waitFor();
      return (await connection(id).locator('.badge').textContent()) === label;
    },
    { timeoutMs: 20_000, intervalMs: 250, what: `connection ${id} to show "${label}"` },
  );
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  redis = await startTestRedis();
  await startDemo();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

// Each test has a browser profile of its own (no cookie of another test's user) and leaves Powens
// as it found it, with no user: any one runs alone, in any order.
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
  page = await context.newPage();
  // Any script error, CSP violation or failed load on our pages fails the run at the end.
  // (The cancelled flow's error page is a 400 on purpose: Chromium logs that load as an error.)
  page.on('console', (m) => {
    const expected = m.text().startsWith('Failed to load resource') && m.location().url.startsWith(`${base}/callback?error=`);
    if (m.type() === 'error' && !expected) problems.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
});

afterEach(async () => {
  // Unlinks the signed-in user (their Powens user and connections go), through the service.
  await context.request.delete(`${base}/me/connections`, { headers: { 'x-csrf': '1' } });
  await context.close();
});

/** Signs in afresh on the demo's sign-in page as `user`; ends on the home page, its list loaded. */
async function signIn(user: string): Promise<void> {
  // Whoever was signed in before is forgotten: each test can run alone or after any other.
  await page.context().clearCookies();
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/demo/sign-in**`);
  await page.fill('#user-id-input', user);
  await page.click('#sign-in button[type=submit]');
  await page.waitForURL(`${base}/`);
  await page.locator('#connections[aria-busy="false"]').waitFor();
}

/** Connects Demo Bank through the webview as the signed-in user; the id of the connection listed. */
async function connectDemoBank(): Promise<string> {
  await page.click('#add-connection');
  await page.waitForURL(`${emulator}/en/connect?**`);
  await page.getByLabel('Demo Bank').check();
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', 'correct horse');
  await page.click('button[value=connect]');
  await page.waitForURL(`${base}/`);
  const item = page.locator('li.connection').first();
  await item.waitFor();
  const id = (await item.getAttribute('data-connection-id')) ?? '';
  if (!/^\d+$/.test(id)) throw new Error(`the connection listed after connecting has no id: ${JSON.stringify(id)}`);
  return id;
}

afterAll(async () => {
  await browser?.close();
  if (demo !== undefined && demo.exitCode === null) {
    const exited = new Promise((done) => demo.once('exit', done));
    demo.kill('SIGTERM');
    await withinDeadline(exited, 10_000, 'the demo to exit after SIGTERM');
  }
  await redis?.close();
});

describe('the demo in Chromium', () => {
  test('sign in, connect Demo Bank and see it listed as OK', async () => {
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).toBe('/demo/sign-in');
    await shot('01-sign-in');

    await page.fill('#user-id-input', USER);
    await page.click('#sign-in button[type=submit]');
    await page.waitForURL(`${base}/`);
    expect(await page.textContent('#user-id')).toBe(USER);
    await page.locator('#empty').waitFor();
    expect(await page.textContent('#empty h2')).toBe('No bank linked yet');
    await shot('02-home-empty');

    await page.click('#add-connection');
    await page.waitForURL(`${emulator}/en/connect?**`);
    await page.getByLabel('Demo Bank').check();
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'correct horse');
    await shot('03-webview-connect');
    await page.click('button[value=connect]');

    await page.waitForURL(`${base}/`);
    const item = page.locator('li.connection');
    await item.first().waitFor();
    expect(await item.count()).toBe(1);
    const connectionId = (await item.getAttribute('data-connection-id')) ?? '';
    expect(connectionId).toMatch(/^\d+$/);
    expect(await item.locator('strong').textContent()).toBe('Demo Bank');
    expect(await item.locator('.badge').textContent()).toBe('OK');
    expect(await page.textContent('#notice')).toBe('Demo Bank is connected.');
    expect(await page.isVisible('#manage')).toBe(true);
    await shot('04-connected');
  });

  test('cancel in the webview and see the error page with its way back and its start-again link', async () => {
    await signIn('e2e-cancel');
    await connectDemoBank();
    await page.click('#add-connection');
    await page.waitForURL(`${emulator}/en/connect?**`);
    const [callback] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(`${base}/callback`)), page.click('button[value=cancel]')]);
    expect(callback.status()).toBe(400);
    expect(await page.textContent('h1')).toBe('Cancelled');
    expect(await page.textContent('p.message')).toContain('Nothing was changed');
    expect(await page.getByRole('link', { name: 'Back to the app' }).getAttribute('href')).toBe('/?done=connect');
    const retry = page.getByRole('link', { name: 'Start again' });
    expect(await retry.getAttribute('href')).toMatch(/^\/connect(\?|$)/);
    await shot('05-cancelled');

    await retry.click();
    await page.waitForURL(`${emulator}/en/connect?**`);
    await page.goto(`${base}/`);
    await page.locator('li.connection').first().waitFor();
    expect(await page.locator('li.connection').count()).toBe(1);
  });

  test('a connection put in SCARequired shows "Action needed"; reconnecting makes it OK', async () => {
    await signIn('e2e-sca');
    const connectionId = await connectDemoBank();
    await knob(`/connections/${connectionId}/state`, {
      state: 'SCARequired',
      error_message: 'Strong customer authentication is required by your bank.',
    });
    // Powens tells the service with a webhook; the service then shows the new state.
    const delivery = (await knob('/webhooks/send', {
      base,
      event: 'CONNECTION_SYNCED',
      connectionId: Number(connectionId),
      hmacSecret: WEBHOOK_SECRET,
    })) as { status: number };
    expect(delivery.status).toBeLessThan(300);
    await waitForBadge(connectionId, 'Action needed');
    const item = connection(connectionId);
    expect(await item.locator('.connection-detail').textContent()).toBe('Strong customer authentication is required by your bank.');
    const reconnect = item.getByRole('link', { name: 'Reconnect' });
    expect(await reconnect.isVisible()).toBe(true);
    await shot('06-action-needed');

    await reconnect.click();
    await page.waitForURL(`${emulator}/en/reconnect?**`);
    expect(await page.textContent('h1')).toBe('Reconnect Demo Bank');
    await shot('07-webview-reconnect');
    await page.click('button[value=reconnect]');

    await page.waitForURL(`${base}/`);
    await connection(connectionId).waitFor();
    expect(await connection(connectionId).locator('.badge').textContent()).toBe('OK');
    expect(await page.textContent('#notice')).toBe('Demo Bank is reconnected.');
    await shot('08-reconnected');
  });

  test('remove the connection, then unlink the bank', async () => {
    await signIn('e2e-remove');
    const connectionId = await connectDemoBank();
    await connection(connectionId).getByRole('button', { name: 'Remove' }).click();
    const dialog = page.locator('dialog#confirm');
    await dialog.waitFor();
    expect(await dialog.locator('h2').textContent()).toBe('Remove Demo Bank?');
    await shot('09-confirm-remove');
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await page.locator('#empty').waitFor();
    expect(await page.textContent('#empty h2')).toBe('No bank connected');
    expect(await page.textContent('#notice')).toBe('Demo Bank was removed.');
    const gone = await fetch(`${emulator}/__emulator/snapshot`).then((r) => r.json() as Promise<{ users: { connections: unknown[] }[] }>);
    expect(gone.users.flatMap((u) => u.connections)).toEqual([]);
    await shot('10-removed');

    await page.click('#unlink');
    await page.locator('dialog#confirm').getByRole('button', { name: 'Unlink' }).click();
    await page.locator('#empty h2', { hasText: 'No bank linked yet' }).waitFor();
    expect(await page.isVisible('#manage')).toBe(false);
    const after = await fetch(`${emulator}/__emulator/snapshot`).then((r) => r.json() as Promise<{ users: unknown[] }>);
    expect(after.users).toEqual([]);
    await shot('11-unlinked');
  });

  test('signing out and in as another user shows a clear badge for each status', async () => {
    await signIn('e2e-before-bob');
    await page.click('#sign-out');
    await page.waitForURL(`${base}/demo/sign-in**`);
    await page.fill('#user-id-input', 'e2e-bob');
    await page.click('#sign-in button[type=submit]');
    await page.waitForURL(`${base}/`);
    expect(await page.textContent('#user-id')).toBe('e2e-bob');
    // The emulator's test connector creates a connection in the state typed as the login.
    for (const [bank, login] of [
      ['Demo Bank', 'bob'],
      ['Connecteur de test', 'validating'],
      ['Connecteur de test', 'SCARequired'],
      ['Connecteur de test', 'websiteUnavailable'],
    ] as const) {
      await page.click('#add-connection');
      await page.waitForURL(`${emulator}/en/connect?**`);
      await page.getByLabel(bank).check();
      await page.fill('input[name=login]', login);
      await page.fill('input[name=password]', 'secret');
      await page.click('button[value=connect]');
      await page.waitForURL(`${base}/`);
    }
    await page.locator('li.connection').nth(3).waitFor();
    const badges = await page.locator('li.connection .badge').allTextContents();
    expect([...badges].sort()).toEqual(['Action needed', 'OK', 'Syncing', 'Temporary error']);
    expect(await page.locator('li.connection a[data-action=reconnect]').count()).toBe(1);
    await shot('12-every-status');
  });

  test('pick the bank first; the bank asks for a one-time code, then an approval in its app; a consent ending soon shows Reconnect', async () => {
    await signIn('e2e-picker');
    await page.locator('#bank-picker').waitFor();
    await page.selectOption('#bank-picker', { label: 'Sandbox Neobank' });
    await page.click('#connect-bank');
    await page.waitForURL(`${emulator}/en/connect?**`);
    // One bank asked for: no chooser, and the test logins listed on the page.
    expect(await page.isVisible('#bank-only')).toBe(true);
    expect(await page.textContent('#test-logins')).toContain('sca');
    await page.fill('input[name=login]', 'sca+decoupled+expiring');
    await page.fill('input[name=password]', 'secret');
    await shot('13-webview-one-bank');
    await page.click('button[value=connect]');

    await page.locator('form[data-step="otp"]').waitFor();
    expect(await page.textContent('h1')).toBe('Confirm it is you');
    await page.fill('input[name=otp]', '123456');
    await shot('14-webview-one-time-code');
    await page.click('button[value=otp]');

    await page.locator('form[data-step="decoupled"]').waitFor();
    expect(await page.textContent('h1')).toBe('Approve in your banking app');
    await shot('15-webview-approve-in-app');
    await page.click('button[value=decoupled-approve]');
    await page.locator('form[data-step="decoupled-approved"]').waitFor();
    await page.click('button[value=decoupled-continue]');

    await page.waitForURL(`${base}/`);
    const item = page.locator('li.connection', { hasText: 'Sandbox Neobank' });
    await item.waitFor();
    expect(await item.locator('.badge').textContent()).toBe('OK');
    expect(await item.getByRole('link', { name: 'Reconnect' }).isVisible()).toBe(true);
    await shot('16-consent-ending-soon');
  });

  test('no script error, CSP violation or failed load happened on the way', () => {
    expect(problems).toEqual([]);
  });
});
