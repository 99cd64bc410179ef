import { randomBytes } from 'node:crypto';
import { CSRF_EXEMPT_PATHS, SAFE_METHODS } from '../../src/http/csrf.js';
import { connectBank, expectProblem } from '../helpers/api.js';
import type { Browser } from '../helpers/browser.js';
import { listRoutes, samplePath, type AppRoute } from '../helpers/routes.js';
import { startStack, type Stack } from '../helpers/stack.js';

const APP_ORIGIN = 'https://app.example.com';
const FOREIGN_ORIGIN = 'https://evil.example';

let header: Stack;
let demo: Stack;
beforeAll(async () => {
  header = await startStack({ env: { CORS_ORIGINS: `${APP_ORIGIN},https://admin.example.com` } });
  demo = await startStack({
    env: { AUTH_MODE: 'demo', CORS_ORIGINS: APP_ORIGIN },
    testRedis: header.testRedis,
    emulator: header.emulator,
  });
});
afterAll(async () => {
  await demo.close();
  await header.close();
});

async function signInDemo(b: Browser, userId: string): Promise<void> {
  const hop = await b.request('POST', '/demo/session', {
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify({ userId }),
  });
  if (hop.status !== 204) throw new Error(`demo sign-in answered ${hop.status}`);
}

/** A signed-in, linked user with one connection, so that an unguarded route would change something. */
async function linkedUser(stack: Stack): Promise<{ b: Browser; connectionId: number }> {
  const userId = `user-${randomBytes(6).toString('hex')}`;
  const b = stack.config.auth.mode === 'demo' ? stack.browser() : stack.browser(userId);
  if (stack.config.auth.mode === 'demo') await signInDemo(b, userId);
  const connectionId = await connectBank(b);
  return { b, connectionId };
}

function stateChanging(stack: Stack): AppRoute[] {
  return listRoutes(stack.built.app).filter((r) => !SAFE_METHODS.includes(r.method) && !CSRF_EXEMPT_PATHS.includes(r.path));
}

describe('the route inventory', () => {
  test('finds the state-changing routes of the API and of the demo', () => {
    const h = stateChanging(header).map((r) => `${r.method} ${r.path}`);
    expect(h).toEqual(expect.arrayContaining(['DELETE /me/connections/:id', 'DELETE /me/connections']));
    const d = stateChanging(demo).map((r) => `${r.method} ${r.path}`);
    expect(d).toEqual(expect.arrayContaining(['DELETE /me/connections/:id', 'DELETE /me/connections', 'POST /demo/session', 'DELETE /demo/session']));
  });

  test('only the Powens webhook is exempt from the CSRF guard (it authenticates by HMAC or token)', () => {
    expect(CSRF_EXEMPT_PATHS).toEqual(['/webhooks/powens', '/webhooks/powens/:event']);
  });
});

describe.each([
  ['header', () => header],
  ['demo', () => demo],
])('every state-changing route (AUTH_MODE %s)', (_mode, get) => {
  async function refuses(extra: Record<string, string>, code: string): Promise<void> {
    const stack = get();
    const routes = stateChanging(stack);
    expect(routes.length).toBeGreaterThan(0);
    const { b, connectionId } = await linkedUser(stack);
    const knobs = stack.emulator.emulator.knobs;
    for (const route of routes) {
      const path = samplePath(route.path, { id: String(connectionId), connectionId: String(connectionId) });
      const redisBefore = await stack.dump();
      const powensBefore = stack.emulator.emulator.state.snapshot();
      const callsBefore = knobs.calls();
      const hop = await b.request(route.method, path, {
        headers: { 'content-type': 'application/json', ...extra },
        body: route.method === 'DELETE' ? undefined : '{}',
      });
      const problem = expectProblem(hop, 403);
      expect({ route: `${route.method} ${route.path}`, code: (problem as unknown as { code: string }).code }).toEqual({
        route: `${route.method} ${route.path}`,
        code,
      });
      expect(await stack.dump()).toEqual(redisBefore);
      expect(stack.emulator.emulator.state.snapshot()).toEqual(powensBefore);
      expect(knobs.calls()).toBe(callsBefore);
    }
  }

  test('refuses a request without X-CSRF: 1 with a 403 problem and changes nothing', async () => {
    await refuses({}, 'CSRF_HEADER_MISSING');
    await refuses({ 'x-csrf': '0' }, 'CSRF_HEADER_MISSING');
  });

  test('refuses a request from a foreign Origin, even with X-CSRF: 1, and changes nothing', async () => {
    await refuses({ 'x-csrf': '1', origin: FOREIGN_ORIGIN }, 'ORIGIN_FORBIDDEN');
    await refuses({ 'x-csrf': '1', origin: 'null' }, 'ORIGIN_FORBIDDEN');
  });

  test('lets the same request through with X-CSRF: 1 from an allowed origin or its own', async () => {
    const stack = get();
    const { b, connectionId } = await linkedUser(stack);
    const del = await b.request('DELETE', `/me/connections/${connectionId}`, { headers: { 'x-csrf': '1', origin: APP_ORIGIN } });
    expect(del.status).toBe(204);
    const unlink = await b.request('DELETE', '/me/connections', { headers: { 'x-csrf': '1', origin: stack.url } });
    expect(unlink.status).toBe(204);
  });
});

describe('CORS', () => {
  function preflight(origin: string, method = 'DELETE'): Promise<Response> {
    return fetch(`${header.url}/me/connections`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'x-csrf,content-type' },
    });
  }

  test.each([APP_ORIGIN, 'https://admin.example.com'])('answers the preflight of %s with credentials', async (origin) => {
    const res = await preflight(origin);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(origin);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')?.split(',')).toEqual(expect.arrayContaining(['GET', 'DELETE']));
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(expect.arrayContaining(['x-csrf', 'content-type']));
    expect(res.headers.get('vary')).toMatch(/Origin/i);
  });

  test.each([FOREIGN_ORIGIN, 'null', `${APP_ORIGIN}.evil.example`, 'http://app.example.com'])(
    'gives a foreign origin (%s) no Access-Control-Allow-Origin',
    async (origin) => {
      const res = await preflight(origin);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const get = await fetch(`${header.url}/me/connections`, { headers: { origin, 'x-user-id': 'someone' } });
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
    },
  );

  test('a read from an allowed origin carries the CORS headers with credentials', async () => {
    const res = await fetch(`${header.url}/me/connections`, { headers: { origin: APP_ORIGIN, 'x-user-id': 'someone' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });
});
