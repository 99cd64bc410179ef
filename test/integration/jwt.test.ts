import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { completeWebview } from '../../emulator/index.js';
import { expectProblem, tokenKey } from '../helpers/api.js';
import { Browser } from '../helpers/browser.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'powens-connect-bff';
const COOKIE = 'app_session';
const HS_SECRET = 'jwt-test-secret-0123456789-abcdefghijklmnop';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function rsaKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A JWKS endpoint of the app's identity provider, counting how often it is fetched. */
class JwksServer {
  keys: JWK[] = [];
  hits = 0;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url === '/jwks.json') {
        this.hits += 1;
        res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: this.keys }));
      } else if (req.url === '/broken.json') {
        res.writeHead(500).end('down');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const now = (): number => Math.floor(Date.now() / 1000);

function claims(sub: string | undefined, extra: JWTPayload = {}): JWTPayload {
  return { ...(sub === undefined ? {} : { sub }), iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 600, ...extra };
}

async function rs256(key: SigningKey, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

async function hs256(secret: Uint8Array, payload: JWTPayload, kid?: string): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid === undefined ? {} : { kid }) }).sign(secret);
}

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);

let jwks: JwksServer;
let keyA: SigningKey;
let keyB: SigningKey;
let stranger: SigningKey;
let viaJwks: Stack;
let viaJwksCoolingDown: Stack;
let viaJwksBroken: Stack;
let viaSecret: Stack;

beforeAll(async () => {
  [keyA, keyB, stranger] = await Promise.all([rsaKey('key-a'), rsaKey('key-b'), rsaKey('key-a')]);
  jwks = new JwksServer();
  jwks.keys = [keyA.jwk];
  await jwks.start();
  const jwtEnv = { AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: ISSUER, AUTH_JWT_AUDIENCE: AUDIENCE, AUTH_JWT_COOKIE: COOKIE };
  viaJwks = await startStack({ env: { ...jwtEnv, AUTH_JWKS_URL: `${jwks.url}/jwks.json`, AUTH_JWKS_COOLDOWN_SECONDS: '0' } });
  const shared = { testRedis: viaJwks.testRedis, emulator: viaJwks.emulator };
  viaJwksCoolingDown = await startStack({
    env: { ...jwtEnv, AUTH_JWKS_URL: `${jwks.url}/jwks.json`, AUTH_JWKS_COOLDOWN_SECONDS: '3600' },
    ...shared,
  });
  viaJwksBroken = await startStack({ env: { ...jwtEnv, AUTH_JWKS_URL: `${jwks.url}/broken.json` }, ...shared });
  viaSecret = await startStack({ env: { ...jwtEnv, AUTH_JWT_SECRET: HS_SECRET }, ...shared });
});
afterAll(async () => {
  await viaSecret.close();
  await viaJwksBroken.close();
  await viaJwksCoolingDown.close();
  await viaJwks.close();
  await jwks.close();
});

function bearer(stack: Stack, token: string): Browser {
  return new Browser(stack.url, { authorization: `Bearer ${token}` });
}

function withCookie(stack: Stack, token: string): Browser {
  const b = new Browser(stack.url);
  b.cookies.set(COOKIE, token);
  return b;
}

async function expectUser(b: Browser): Promise<void> {
  const hop = await b.get('/me/connections');
  expect({ status: hop.status, body: hop.text }).toEqual({ status: 200, body: JSON.stringify({ linked: false, connections: [] }) });
}

async function expectRefused(b: Browser): Promise<void> {
  expectProblem(await b.get('/me/connections'), 401);
}

describe('AUTH_MODE jwt with a JWKS', () => {
  test('accepts a good token from Authorization: Bearer', async () => {
    await expectUser(bearer(viaJwks, await rs256(keyA, claims('alice'))));
  });

  test('accepts a good token from the AUTH_JWT_COOKIE cookie', async () => {
    await expectUser(withCookie(viaJwks, await rs256(keyA, claims('alice'))));
  });

  test('the sub claim is the user id the Powens token is stored under', async () => {
    const b = bearer(viaJwks, await rs256(keyA, claims('jwt-user-1')));
    const webview = await startConnect(b);
    const back = await completeWebview(webview, { kind: 'connect' });
    expect((await b.get(back.href)).status).toBe(303);
    expect(await viaJwks.inspect.exists(tokenKey(viaJwks, 'jwt-user-1'))).toBe(1);
    const list = JSON.parse((await b.get('/me/connections')).text) as { linked: boolean };
    expect(list.linked).toBe(true);
    // Another sub does not see it.
    await expectUser(bearer(viaJwks, await rs256(keyA, claims('jwt-user-2'))));
  });

  test.each<[string, () => Promise<string>]>([
    ['alg none', () => Promise.resolve(new UnsecuredJWT(claims('alice')).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('10m').encode())],
    ['an HS256 token signed with the public key (PEM)', async () => hs256(enc(await exportSPKI(keyA.publicKey)), claims('alice'), keyA.kid)],
    ['an HS256 token signed with the public key (JWK)', async () => hs256(enc(JSON.stringify(keyA.jwk)), claims('alice'), keyA.kid)],
    ['an expired token', async () => rs256(keyA, claims('alice', { iat: now() - 3600, exp: now() - 60 }))],
    ['a token not yet valid', async () => rs256(keyA, claims('alice', { nbf: now() + 60 }))],
    [
      'a token without exp',
      async () => new SignJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE }).setProtectedHeader({ alg: 'RS256', kid: keyA.kid }).sign(keyA.privateKey),
    ],
    ['a wrong issuer', async () => rs256(keyA, claims('alice', { iss: 'https://evil.example/' }))],
    ['a wrong audience', async () => rs256(keyA, claims('alice', { aud: 'another-service' }))],
    ['a bad signature (another key under the same kid)', async () => rs256(stranger, claims('alice'))],
    [
      'a tampered payload',
      async () => {
        const [h, , sig] = (await rs256(keyA, claims('alice'))).split('.');
        const forged = Buffer.from(JSON.stringify(claims('mallory'))).toString('base64url');
        return `${h ?? ''}.${forged}.${sig ?? ''}`;
      },
    ],
    ['a token without sub', async () => rs256(keyA, claims(undefined))],
    ['a token with an empty sub', async () => rs256(keyA, claims(''))],
    ['something that is not a JWT', () => Promise.resolve('not-a-jwt')],
  ])('rejects %s with a 401 problem', async (_what, make) => {
    const token = await make();
    await expectRefused(bearer(viaJwks, token));
    await expectRefused(withCookie(viaJwks, token));
  });

  test('a bad Bearer token is not rescued by a good cookie', async () => {
    const b = bearer(viaJwks, await rs256(keyA, claims('alice', { exp: now() - 60 })));
    b.cookies.set(COOKIE, await rs256(keyA, claims('alice')));
    await expectRefused(b);
  });

  test('a sub that is not a valid user id is a 400 problem', async () => {
    expectProblem(await bearer(viaJwks, await rs256(keyA, claims('x'.repeat(129)))).get('/me/connections'), 400);
  });

  test('a browser route without a valid token gets the 401 page, not a webview', async () => {
    const hop = await bearer(viaJwks, 'not-a-jwt').get('/connect');
    expect(hop.status).toBe(401);
    expect(hop.headers.get('content-type')).toMatch(/^text\/html/);
  });

  test('the JWKS is fetched once and cached, then fetched again for an unknown key id', async () => {
    const token = await rs256(keyA, claims('alice'));
    await expectUser(bearer(viaJwks, token));
    const afterFirst = jwks.hits;
    for (let i = 0; i < 5; i += 1) await expectUser(bearer(viaJwks, await rs256(keyA, claims(`cached-${i}`))));
    expect(jwks.hits).toBe(afterFirst);

    // The identity provider rotates: key B is published, then tokens are signed with it.
    jwks.keys = [keyA.jwk, keyB.jwk];
    await expectUser(bearer(viaJwks, await rs256(keyB, claims('alice'))));
    expect(jwks.hits).toBe(afterFirst + 1);
    await expectUser(bearer(viaJwks, await rs256(keyB, claims('bob'))));
    expect(jwks.hits).toBe(afterFirst + 1);
    jwks.keys = [keyA.jwk];
  });

  test('within the cool-down an unknown key id does not make it fetch again (tokens with random kids cannot hammer the JWKS)', async () => {
    await expectUser(bearer(viaJwksCoolingDown, await rs256(keyA, claims('alice'))));
    const hits = jwks.hits;
    for (let i = 0; i < 3; i += 1) {
      await expectRefused(bearer(viaJwksCoolingDown, await rs256({ ...stranger, kid: `random-${i}` }, claims('alice'))));
    }
    expect(jwks.hits).toBe(hits);
  });

  test('a JWKS that cannot be fetched is a 503 problem, not a sign-out', async () => {
    expectProblem(await bearer(viaJwksBroken, await rs256(keyA, claims('alice'))).get('/me/connections'), 503);
  });
});

describe('AUTH_MODE jwt with an HS256 secret', () => {
  const secret = enc(HS_SECRET);

  test('accepts a good token from Authorization: Bearer and from the cookie', async () => {
    await expectUser(bearer(viaSecret, await hs256(secret, claims('alice'))));
    await expectUser(withCookie(viaSecret, await hs256(secret, claims('alice'))));
  });

  test.each<[string, () => Promise<string>]>([
    ['alg none', () => Promise.resolve(new UnsecuredJWT(claims('alice')).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('10m').encode())],
    ['a token signed with another secret', async () => hs256(enc(`${HS_SECRET}-other`), claims('alice'))],
    ['an RS256 token (only HS256 is allowed with a secret)', async () => rs256(keyA, claims('alice'))],
    ['an expired token', async () => hs256(secret, claims('alice', { iat: now() - 3600, exp: now() - 60 }))],
    ['a token not yet valid', async () => hs256(secret, claims('alice', { nbf: now() + 60 }))],
    ['a wrong issuer', async () => hs256(secret, claims('alice', { iss: 'https://evil.example/' }))],
    ['a wrong audience', async () => hs256(secret, claims('alice', { aud: 'another-service' }))],
    ['a token without sub', async () => hs256(secret, claims(undefined))],
  ])('rejects %s with a 401 problem', async (_what, make) => {
    const token = await make();
    await expectRefused(bearer(viaSecret, token));
    await expectRefused(withCookie(viaSecret, token));
  });

  test("refuses two cookies of the token's name (one may come from a sibling subdomain) with a 400, whichever is first", async () => {
    const victim = await hs256(secret, claims('victim'));
    const attacker = await hs256(secret, claims('attacker'));
    for (const cookie of [`${COOKIE}=${attacker}; ${COOKIE}=${victim}`, `${COOKIE}=${victim}; other=1; ${COOKIE}=${attacker}`]) {
      const res = await fetch(`${viaSecret.url}/me/connections`, { headers: { cookie } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'CREDENTIALS_AMBIGUOUS' });
    }
    // The flow routes too: no webview is opened for either user.
    const page = await fetch(`${viaSecret.url}/connect`, {
      headers: { cookie: `${COOKIE}=${attacker}; ${COOKIE}=${victim}`, accept: 'text/html' },
      redirect: 'manual',
    });
    expect(page.status).toBe(400);
    // One cookie of that name (other cookies beside it) is fine.
    const one = await fetch(`${viaSecret.url}/me/connections`, { headers: { cookie: `other=1; ${COOKIE}=${victim}` } });
    expect(one.status).toBe(200);
  });
});
