import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { SAFE_METHODS } from '../../src/http/csrf.js';
import type { Method, OpenApiDocument, Operation } from '../../src/api/openapi.js';
import { catalogue } from '../../src/errors.js';
import { CONNECTION_STATUSES } from '../../src/powens/status.js';
import { connectBank, freshUser } from '../helpers/api.js';
import type { Browser, Hop } from '../helpers/browser.js';
import { listRoutes } from '../helpers/routes.js';
import { startStack, type Stack } from '../helpers/stack.js';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => void;

let stack: Stack;
let limited: Stack;
let doc: OpenApiDocument;
let ajv: Ajv2020;

beforeAll(async () => {
  stack = await startStack({ env: { CORS_ORIGINS: 'https://app.example.com' } });
  limited = await startStack({ env: { RATE_LIMIT_PER_USER: '1' }, testRedis: stack.testRedis, emulator: stack.emulator });
  const hop = await fetch(`${stack.url}/openapi.json`);
  doc = (await hop.json()) as OpenApiDocument;
  ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  // The OpenAPI fields around the schemas are not JSON Schema keywords: declared so strict mode accepts them.
  ajv.addVocabulary(['openapi', 'jsonSchemaDialect', 'info', 'tags', 'paths', 'components', 'security']);
  ajv.addSchema(doc as unknown as object, 'openapi');
});
afterAll(async () => {
  await limited.close();
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;

function pointer(...parts: string[]): string {
  return parts.map((p) => `/${encodeURIComponent(p.replaceAll('~', '~0').replaceAll('/', '~1'))}`).join('');
}

/** Follows a local `$ref` to its JSON pointer; answers the pointer of the object itself otherwise. */
function deref(at: string): { value: Record<string, unknown>; at: string } {
  let value: unknown = doc;
  for (const part of at.split('/').slice(1)) {
    value = (value as Record<string, unknown>)[decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  const ref = (value as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && !('type' in (value as object))) return deref(ref.replace(/^#/, ''));
  return { value: value as Record<string, unknown>, at };
}

/** What the running test has seen (method path status), emptied before each test. */
const seen = new Set<string>();
beforeEach(() => {
  seen.clear();
});

/**
 * The answers each test of 'real answers match the document' must see: each test checks its
 * own (so that any one runs alone, in any order), and the last checks that they add up.
 */
const SEEN_BY = {
  openapi: ['get /openapi.json 200'],
  list: ['get /me/connections 200'],
  listErrors: ['get /me/connections 400', 'get /me/connections 401', 'get /me/connections 429', 'get /me/connections 502'],
  connectors: ['get /connectors 200', 'get /connectors 429', 'get /connectors 502'],
  deleteOne: [
    'delete /me/connections/{id} 204',
    'delete /me/connections/{id} 401',
    'delete /me/connections/{id} 403',
    'delete /me/connections/{id} 404',
    'delete /me/connections/{id} 413',
    'delete /me/connections/{id} 502',
  ],
  deleteAll: [
    'delete /me/connections 204',
    'delete /me/connections 401',
    'delete /me/connections 403',
    'delete /me/connections 413',
    'delete /me/connections 502',
  ],
};

function expectSeen(expected: string[]): void {
  expect([...seen].sort()).toEqual([...expected].sort());
}

/** Holds a real answer to the document: the status is documented, and the body matches its schema. */
function conforms(method: Method, path: string, hop: Hop): void {
  const operation = doc.paths[path]?.[method];
  expect(operation).toBeDefined();
  const status = String(hop.status);
  expect({ method, path, status, documented: Object.keys(operation?.responses ?? {}) }).toEqual({
    method,
    path,
    status,
    documented: expect.arrayContaining([status]) as unknown as string[],
  });
  seen.add(`${method} ${path} ${status}`);
  const response = deref(pointer('paths', path, method, 'responses', status));
  const content = response.value.content as Record<string, unknown> | undefined;
  if (content === undefined) {
    expect(hop.text).toBe('');
    return;
  }
  const mediaType = (hop.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  expect(Object.keys(content)).toContain(mediaType);
  const validate = ajv.getSchema(`openapi#${response.at}${pointer('content', mediaType, 'schema')}`);
  if (validate === undefined) throw new Error(`no schema for ${method} ${path} ${status}`);
  const body: unknown = JSON.parse(hop.text);
  const ok = validate(body);
  expect({ method, path, status, errors: ok ? null : validate.errors }).toEqual({ method, path, status, errors: null });
}

const newUser = (s: Stack = stack): { userId: string; b: Browser } => freshUser(s);

describe('the document', () => {
  test('is OpenAPI 3.1 with JSON Schema 2020-12, served as JSON', async () => {
    const hop = await fetch(`${stack.url}/openapi.json`);
    expect(hop.status).toBe(200);
    expect(hop.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    // Every schema it holds compiles (strict mode: no unknown keyword, every $ref resolves).
    for (const name of Object.keys(doc.components.schemas)) {
      expect(ajv.getSchema(`openapi#${pointer('components', 'schemas', name)}`)).toBeDefined();
    }
  });

  test('documents exactly the API routes the app serves', () => {
    const served = listRoutes(stack.built.app)
      .filter((r) => r.path === '/me' || r.path.startsWith('/me/') || r.path === '/openapi.json' || r.path === '/connectors')
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => k !== 'parameters')
          .map((m) => `${m} ${path}`),
      )
      .sort();
    expect(documented).toEqual(served);
  });

  test('every state-changing operation requires X-CSRF: 1, and answers 403 as problem+json', () => {
    const operations = Object.values(doc.paths).flatMap((item) => Object.entries(item) as [string, Operation][]);
    const changing = operations.filter(([method]) => !SAFE_METHODS.includes(method.toUpperCase()));
    expect(changing.length).toBeGreaterThan(0);
    for (const [, op] of changing) {
      expect(op.parameters).toContainEqual({ $ref: '#/components/parameters/XCsrf' });
      expect(op.responses['403']).toEqual({ $ref: '#/components/responses/Forbidden' });
    }
    expect(doc.components.parameters.XCsrf).toEqual(expect.objectContaining({ name: 'X-CSRF', in: 'header', required: true }));
  });

  test('every error is problem+json with the catalogue codes', () => {
    for (const [name, response] of Object.entries(doc.components.responses)) {
      expect({ name, content: Object.keys(response.content ?? {}) }).toEqual({ name, content: ['application/problem+json'] });
    }
    expect(doc.components.schemas.Problem?.properties?.code?.enum).toEqual(Object.keys(catalogue));
  });

  test('the Connection schema has every field, all required, and the status enum', () => {
    const connection = doc.components.schemas.Connection;
    const fields = ['id', 'connector', 'state', 'status', 'message', 'lastUpdate', 'createdAt', 'expiresAt', 'expiresSoon', 'active', 'reconnectUrl'];
    expect(Object.keys(connection?.properties ?? {}).sort()).toEqual([...fields].sort());
    expect([...(connection?.required ?? [])].sort()).toEqual([...fields].sort());
    expect(doc.components.schemas.ConnectionStatus?.enum).toEqual([...CONNECTION_STATUSES]);
  });

  test('has a security scheme for each auth mode, and requires the running one', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearerJwt', 'demoSession', 'jwtCookie', 'userHeader']);
    expect(doc.components.securitySchemes.userHeader).toEqual(expect.objectContaining({ in: 'header', name: 'x-user-id' }));
    expect(doc.security).toEqual([{ userHeader: [] }]);
  });
});

describe('real answers match the document', () => {
  test('GET /openapi.json 200', async () => {
    conforms('get', '/openapi.json', await stack.browser().get('/openapi.json'));
    expectSeen(SEEN_BY.openapi);
  });

  test('GET /me/connections 200, not linked and linked with every status', async () => {
    const { b } = newUser();
    conforms('get', '/me/connections', await b.get('/me/connections'));
    const states: [string | null, string | null][] = [
      [null, null],
      ['validating', null],
      ['SCARequired', 'Confirm in your banking app.'],
      ['websiteUnavailable', null],
      ['someFutureState', null],
    ];
    const ids: number[] = [];
    for (let i = 0; i < states.length; i += 1) ids.push(await connectBank(b));
    states.forEach(([state, message], i) => knobs().setConnectionState(ids[i] ?? 0, state, message));
    knobs().setConnectionField(ids[0] ?? 0, { expire: '2099-02-18 08:30:15' });
    knobs().setConnectionField(ids[1] ?? 0, { last_update: null });
    // A consent ending soon on a connection that is otherwise fine: it gets a reconnect link too.
    knobs().setConsentExpiry(ids[3] ?? 0, 2);
    const hop = await b.get('/me/connections');
    const body = JSON.parse(hop.text) as { connections: { status: string; expiresSoon: boolean; reconnectUrl: string | null }[] };
    expect(body.connections.map((c) => c.status).sort()).toEqual(['action_needed', 'ok', 'syncing', 'temporary_error', 'unknown']);
    expect(body.connections.map((c) => c.expiresSoon)).toEqual([false, false, false, true, false]);
    expect(body.connections.map((c) => c.reconnectUrl !== null)).toEqual([false, false, true, true, false]);
    conforms('get', '/me/connections', hop);
    expectSeen(SEEN_BY.list);
  });

  test('GET /me/connections 400, 401, 429 and 502', async () => {
    conforms('get', '/me/connections', await stack.browser('bad\tid').get('/me/connections'));
    conforms('get', '/me/connections', await stack.browser().get('/me/connections'));
    const { b } = newUser();
    await connectBank(b);
    knobs().fail('connections.list', { status: 500 });
    conforms('get', '/me/connections', await b.get('/me/connections'));
    const slow = newUser(limited).b;
    await slow.get('/me/connections');
    const hop = await slow.get('/me/connections');
    expect(hop.status).toBe(429);
    conforms('get', '/me/connections', hop);
    expectSeen(SEEN_BY.listErrors);
  });

  test('GET /connectors 200, 429 and 502, with or without a user', async () => {
    await stack.inspect.del(`${stack.config.redis.prefix}connectors:${encodeURIComponent(stack.config.powens.domain)}`);
    knobs().fail('connectors.list', { status: 500, times: 2 });
    conforms('get', '/connectors', await stack.browser().get('/connectors'));
    conforms('get', '/connectors', await stack.browser().get('/connectors'));
    conforms('get', '/connectors', await newUser().b.get('/connectors'));
    const ipLimited = await startStack({ env: { RATE_LIMIT_PER_IP: '1' }, testRedis: stack.testRedis, emulator: stack.emulator });
    try {
      await ipLimited.browser().get('/connectors');
      const hop = await ipLimited.browser().get('/connectors');
      expect(hop.status).toBe(429);
      conforms('get', '/connectors', hop);
    } finally {
      await ipLimited.close();
    }
    expectSeen(SEEN_BY.connectors);
  });

  test('DELETE /me/connections/{id} 204, 401, 403, 404, 413 and 502', async () => {
    const path = '/me/connections/{id}';
    const { b } = newUser();
    const id = await connectBank(b);
    const other = await connectBank(b);
    conforms('delete', path, await stack.browser().request('DELETE', `/me/connections/${id}`, { headers: { 'x-csrf': '1' } }));
    conforms('delete', path, await stack.browser('x').request('DELETE', `/me/connections/${id}`));
    conforms('delete', path, await b.request('DELETE', `/me/connections/${id}`, { headers: { origin: 'https://evil.example' } }));
    conforms('delete', path, await b.request('DELETE', `/me/connections/${id}`));
    conforms('delete', path, await b.request('DELETE', `/me/connections/${id}`));
    conforms('delete', path, await b.request('DELETE', '/me/connections/not-a-number'));
    knobs().fail('connections.delete', { status: 500 });
    conforms('delete', path, await b.request('DELETE', `/me/connections/${other}`));
    const big = JSON.stringify({ pad: 'x'.repeat(20 * 1024) });
    conforms('delete', path, await b.request('DELETE', `/me/connections/${other}`, { headers: { 'content-type': 'application/json' }, body: big }));
    expectSeen(SEEN_BY.deleteOne);
  });

  test('DELETE /me/connections 204, 401, 403, 413 and 502', async () => {
    const path = '/me/connections';
    const { b } = newUser();
    await connectBank(b);
    conforms('delete', path, await stack.browser().request('DELETE', path, { headers: { 'x-csrf': '1' } }));
    conforms('delete', path, await stack.browser('x').request('DELETE', path));
    knobs().fail('users.delete', { status: 500, times: 1 });
    conforms('delete', path, await b.request('DELETE', path));
    const big = JSON.stringify({ pad: 'x'.repeat(20 * 1024) });
    conforms('delete', path, await b.request('DELETE', path, { headers: { 'content-type': 'application/json' }, body: big }));
    conforms('delete', path, await b.request('DELETE', path));
    expectSeen(SEEN_BY.deleteAll);
  });

  test('the statuses above were all seen', () => {
    // Each test above checks what it saw; together they must be this list.
    expect(Object.values(SEEN_BY).flat().sort()).toEqual(
      [
        'get /openapi.json 200',
        'get /connectors 200',
        'get /connectors 429',
        'get /connectors 502',
        'get /me/connections 200',
        'get /me/connections 400',
        'get /me/connections 401',
        'get /me/connections 429',
        'get /me/connections 502',
        'delete /me/connections/{id} 204',
        'delete /me/connections/{id} 401',
        'delete /me/connections/{id} 403',
        'delete /me/connections/{id} 404',
        'delete /me/connections/{id} 413',
        'delete /me/connections/{id} 502',
        'delete /me/connections 204',
        'delete /me/connections 401',
        'delete /me/connections 403',
        'delete /me/connections 413',
        'delete /me/connections 502',
      ].sort(),
    );
  });
});
