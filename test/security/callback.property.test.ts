import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { completeWebview } from '../../emulator/index.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * GET /callback under arbitrary query strings and cookies. The pools hold the real values an
 * attacker could get hold of (another browser's state and unexchanged code, their own session,
 * stolen or forged session ids) mixed with noise, but never a state together with the intact
 * cookie of the session that owns it. So no request here carries a valid pending flow, and:
 * - no answer is a 5xx;
 * - no token is ever stored; a code is only ever exchanged to delete the Powens user it names
 *   (a refused callback's), so the other browser's new Powens user is gone at the end;
 * - the other browser's pending flow is still there at the end (nobody could consume it).
 */

let stack: Stack;
let bystander: { cookie: string; state: string; code: string; userId: string };
let attacker: { cookie: string; userId: string };

beforeAll(async () => {
  stack = await startStack();
  // A browser that went through the webview: its flow is pending, its code not yet exchanged.
  const b = stack.browser('bystander');
  const hop = await b.get('/connect');
  const back = await completeWebview(hop.location ?? '', { kind: 'connect' });
  bystander = { cookie: b.cookieHeader(), state: back.searchParams.get('state') ?? '', code: back.searchParams.get('code') ?? '', userId: 'bystander' };
  // The attacker's own session (with its own pending flow, whose state is not in the pools).
  const a = stack.browser('attacker');
  await a.get('/connect');
  attacker = { cookie: a.cookieHeader(), userId: 'attacker' };
});
afterAll(async () => {
  await stack.close();
});

const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });

function tamperSignature(c: string): string {
  return c.replace(/\.[^.;]+$/, `.${randomBytes(32).toString('base64url')}`);
}

function unsigned(c: string): string {
  const sid = decodeURIComponent(/sid=s%3A([^.;]+)\./.exec(c)?.[1] ?? '');
  return `powens-bff.sid=${sid}`;
}

test('no query string or cookie without a valid pending flow gets a 5xx or stores a token', async () => {
  const prefix = stack.config.redis.prefix;

  const value = fc.oneof(
    fc.constantFrom(bystander.state, bystander.code, '', 'access_denied', 'server_error', '1', '1,2', '0x1', '__proto__', 'constructor'),
    fc.string({ maxLength: 60 }),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
    printable,
  );
  const name = fc.oneof(
    fc.constantFrom('state', 'code', 'error', 'error_description', 'connection_id', 'connection_ids', 'state[]', 'code[x]', '__proto__', 'state.x'),
    printable,
  );
  // Each pair percent-encoded (any text), or written raw (printable ASCII only: `&`, `=`, `%`
  // and friends then reach the parser as they are).
  const pair = fc.oneof(
    fc.tuple(name, value).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
    fc.tuple(name, printable).map(([k, v]) => `${k.replace(/#/g, '')}=${v.replace(/#/g, '')}`),
    printable.map((s) => s.replace(/#/g, '')),
  );
  // The callback's own parameters, often with the real values, so a request that would pass
  // with a weaker session binding is tried many times; then noise, in any order.
  const optional = (arb: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> => fc.option(arb, { nil: undefined });
  const callbackParams = fc
    .record({
      state: optional(fc.oneof(fc.constant(bystander.state), value)),
      code: optional(fc.oneof(fc.constant(bystander.code), value)),
      error: optional(value),
      error_description: optional(value),
      connection_id: optional(value),
    })
    .map((r) => Object.entries(r).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${encodeURIComponent(v)}`])));
  const query = fc
    .tuple(callbackParams, fc.array(pair, { maxLength: 6 }))
    .chain(([own, noise]) => fc.shuffledSubarray([...own, ...noise], { minLength: own.length + noise.length }))
    .map((pairs) => pairs.join('&'));
  const sessionCookie = fc.oneof(
    fc.constant(undefined),
    fc.constant(attacker.cookie),
    fc.constant(tamperSignature(bystander.cookie)),
    fc.constant(unsigned(bystander.cookie)),
    printable.map((v) => `powens-bff.sid=${v.replace(/;/g, '')}`),
    printable.map((v) => `powens-bff.sid=s%3A${v.replace(/;/g, '')}`),
    printable,
  );
  const cookieHeader = fc.array(sessionCookie, { maxLength: 3 }).map((parts) => parts.filter((p) => p !== undefined).join('; '));
  const user = fc.oneof(fc.constant(undefined), fc.constantFrom(attacker.userId, bystander.userId), printable);

  await fc.assert(
    fc.asyncProperty(query, cookieHeader, user, async (q, c, u) => {
      const headers: [string, string][] = [];
      if (c !== '') headers.push(['Cookie', c]);
      if (u !== undefined) headers.push(['X-User-Id', u]);
      const res = await rawRequest(stack.server.url, { method: 'GET', path: `/callback?${q}`, headers });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(await stack.inspect.keys(`${prefix}token:*`)).toEqual([]);
    }),
    { numRuns: 200 },
  );

  // One refused callback with the real code, so that the code surely met a refusal: the Powens
  // user the bystander's webview created is deleted, and nothing else is at Powens.
  const refused = await rawRequest(stack.server.url, { method: 'GET', path: `/callback?code=${encodeURIComponent(bystander.code)}`, headers: [] });
  expect(refused.status).toBe(400);
  await stack.built.connections.idle();
  expect(stack.emulator.emulator.state.users()).toEqual([]);
  expect(await stack.inspect.keys(`${prefix}token:*`)).toEqual([]);
  // The other browser's flow was never consumed: its callback reaches the exchange, which Powens
  // now refuses (the code is spent), rather than being told the link expired.
  const own = await rawRequest(stack.server.url, {
    method: 'GET',
    path: `/callback?state=${encodeURIComponent(bystander.state)}&code=${encodeURIComponent(bystander.code)}`,
    headers: [
      ['Cookie', bystander.cookie],
      ['X-User-Id', bystander.userId],
    ],
  });
  expect(own.status).toBe(502);
  expect(own.body).toContain('Bank service refused');
  expect(await stack.inspect.keys(`${prefix}token:*`)).toEqual([]);
});
