// Powens' webhook signature against a hand-written fixture that shares no code with the
// emulator or the service: the signatures below were computed once, when this file was written,
// with openssl from Powens' documented formula (docs/POWENS-API.md, "Webhooks"):
//
//   printf '%s' 'POST.<path>.<BI-Signature-Date>.<body>' | openssl dgst -sha256 -hmac "$SECRET" -binary | base64
//
// and the bodies are written by hand from the documented payload shapes (USER_DELETED: the User
// object; CONNECTION_DELETED: the Connection object; CONNECTION_SYNCED: { user, connection }),
// each with its integer id_webhook_data. The service's clock is set to the fixture's time.
import { signWebhook } from '../../emulator/index.js';
import { webhookSignature } from '../../src/webhooks/auth.js';
import { createKeys } from '../../src/storage/keys.js';
import type { Hop } from '../helpers/browser.js';
import { listConnections } from '../helpers/api.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'powens-fixture-secret-2022';
const DATE = '2022-06-27T11:08:52.577831Z';
const SENT = Date.parse('2022-06-27T11:08:52.577Z');

const DOCS_EXAMPLE = {
  message: `POST./v1/webhook-listener.${DATE}.{"id": 1}`,
  signature: 'NpfWhp9C/1oqi9bvdb2x9mqsVmr9wjkqh539hLxBVNM=',
};

const USER_DELETED = {
  path: '/webhooks/powens/USER_DELETED',
  body: '{"id": 4217, "signin": "2022-06-27 11:08:50", "id_webhook_data": 98765}',
  signature: 'YE1wZOv2+HBHoR7AamVo0YHp7heqyMHZh+DbUc8mVbA=',
};

const CONNECTION_DELETED = {
  path: '/webhooks/powens/connection-deleted',
  body:
    '{"id": 88, "id_user": 4218, "id_connector": 40, "state": null, "error_message": null, "last_update": "2022-06-27 11:08:00", ' +
    '"created": "2022-06-01 10:00:00", "active": true, "last_push": null, "expire": null, "connector_uuid": "338178e6-3d01-564f-9a7b-52ca442459bf", ' +
    '"next_try": null, "deleted": "2022-06-27 11:08:51", "id_webhook_data": 98766}',
  signature: 'f1zWBRdl92oFqRkVczVVljZjzdDz8VGA+7Zv1uBFRDg=',
};

/** The older query form: the path signed is /webhooks/powens, without `?event=`. */
const CONNECTION_SYNCED = {
  path: '/webhooks/powens',
  query: '?event=CONNECTION_SYNCED',
  body:
    '{"user": {"id": 4219, "signin": "2022-06-01 10:00:00"}, "connection": {"id": 89, "id_user": 4219, "id_connector": 40, "state": "SCARequired", ' +
    '"error_message": "Strong authentication required", "last_update": "2022-06-27 11:08:00", "created": "2022-06-01 10:00:00", "active": true, ' +
    '"accounts": [{"id": 8901, "id_connection": 89, "id_user": 4219, "balance": 1523.42, "transactions": []}]}, "id_webhook_data": 98767}',
  signature: 'kVH2cZ94a/5tCfzu3cvNCAqeSZr41ULwn6M1oBNkfMQ=',
};

/** Registered as https://x.example/bank/webhooks/powens/USER_DELETED; a proxy strips /bank. */
const BEHIND_PREFIX = {
  path: '/webhooks/powens/USER_DELETED',
  signedPath: '/bank/webhooks/powens/USER_DELETED',
  body: '{"id": 4220, "signin": "2022-06-27 11:08:50", "id_webhook_data": 98768}',
  signature: 'kD0PDDWLXocmIgIikNm8aDBd019gXa7XBGNFIPwnz0Y=',
};

describe('the documented example', () => {
  test("the service's signature and the emulator's both give the openssl vector", () => {
    const [method, path, date, body] = ['POST', '/v1/webhook-listener', DATE, '{"id": 1}'];
    expect(`${method}.${path}.${date}.${body}`).toBe(DOCS_EXAMPLE.message);
    expect(webhookSignature(SECRET, method, path, date, Buffer.from(body))).toBe(DOCS_EXAMPLE.signature);
    expect(signWebhook(SECRET, method, path, date, body)).toBe(DOCS_EXAMPLE.signature);
  });

  test('so do they for every delivery of this file', () => {
    for (const v of [USER_DELETED, CONNECTION_DELETED, CONNECTION_SYNCED]) {
      expect(webhookSignature(SECRET, 'POST', v.path, DATE, Buffer.from(v.body))).toBe(v.signature);
      expect(signWebhook(SECRET, 'POST', v.path, DATE, v.body)).toBe(v.signature);
    }
    expect(signWebhook(SECRET, 'POST', BEHIND_PREFIX.signedPath, DATE, BEHIND_PREFIX.body)).toBe(BEHIND_PREFIX.signature);
  });
});

// Ten minutes after the deliveries were signed: past the default WEBHOOK_MAX_AGE_S (300), within this stack's 900.
const TEN_MINUTES_LATER = SENT + 600_000;
let clock = TEN_MINUTES_LATER;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ now: () => clock, env: { WEBHOOK_HMAC_SECRET: SECRET, WEBHOOK_MAX_AGE_S: '900' } });
});
afterAll(async () => {
  await stack.close();
});

async function post(s: Stack, path: string, body: string, signature: string, date = DATE): Promise<Hop> {
  const res = await fetch(`${s.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'bi-signature': signature, 'bi-signature-date': date },
    body,
  });
  const text = await res.text();
  await s.built.webhooks.idle();
  return { status: res.status, location: undefined, headers: res.headers, text, url: res.url };
}

/** An app user whose stored token is an emulator user's, filed under the fixture's Powens user id. */
async function userFiledAs(s: Stack, appUserId: string, powensUserId: number): Promise<{ connectionId: number }> {
  const knobs = s.emulator.emulator.knobs;
  const added = knobs.addUser();
  await s.built.tokens.putIfAbsent(appUserId, { token: added.token, powensUserId, createdAt: new Date(clock).toISOString() });
  return { connectionId: added.connectionIds[0] ?? 0 };
}

const shown = async (s: Stack, appUserId: string): Promise<string[]> => (await listConnections(s.browser(appUserId))).connections.map((c) => c.status);

describe('hand-made deliveries, in the shapes Powens documents', () => {
  test('USER_DELETED (the User object, id at the top) drops that user’s token', async () => {
    await userFiledAs(stack, 'fixture-a', 4217);
    const hop = await post(stack, USER_DELETED.path, USER_DELETED.body, USER_DELETED.signature);
    expect({ status: hop.status, body: hop.text }).toEqual({ status: 202, body: '{"status":"accepted"}' });
    expect(await stack.built.tokens.get('fixture-a')).toBeNull();
    const keys = createKeys(stack.config.redis.prefix);
    const left = await stack.dump();
    expect([keys.token('fixture-a'), keys.powensUser(4217)].filter((k) => left.has(k))).toEqual([]);
    expect(left.has(keys.webhookSeen('98765'))).toBe(true);
  });

  test('CONNECTION_DELETED (the Connection object, the user in id_user) at a lower-case, dashed URL refreshes the list', async () => {
    const { connectionId } = await userFiledAs(stack, 'fixture-b', 4218);
    expect(await shown(stack, 'fixture-b')).toEqual(['ok']);
    stack.emulator.emulator.knobs.setConnectionState(connectionId, 'wrongpass');
    expect(await shown(stack, 'fixture-b')).toEqual(['ok']);
    const hop = await post(stack, CONNECTION_DELETED.path, CONNECTION_DELETED.body, CONNECTION_DELETED.signature);
    expect(hop.status).toBe(202);
    expect(await shown(stack, 'fixture-b')).toEqual(['action_needed']);
  });

  test('CONNECTION_SYNCED on the query form, signed over the path without the query, refreshes the list', async () => {
    const { connectionId } = await userFiledAs(stack, 'fixture-c', 4219);
    expect(await shown(stack, 'fixture-c')).toEqual(['ok']);
    stack.emulator.emulator.knobs.setConnectionState(connectionId, 'SCARequired');
    const hop = await post(stack, `${CONNECTION_SYNCED.path}${CONNECTION_SYNCED.query}`, CONNECTION_SYNCED.body, CONNECTION_SYNCED.signature);
    expect(hop.status).toBe(202);
    expect(await shown(stack, 'fixture-c')).toEqual(['action_needed']);
  });

  test('a fixture delivery is refused at another event’s URL, with a byte changed, or past WEBHOOK_MAX_AGE_S', async () => {
    await userFiledAs(stack, 'fixture-d', 4221);
    const body = USER_DELETED.body.replace('4217', '4221').replace('98765', '98769');
    expect((await post(stack, USER_DELETED.path, body, USER_DELETED.signature)).status).toBe(401);
    expect((await post(stack, '/webhooks/powens/USER_DELETED', CONNECTION_DELETED.body, CONNECTION_DELETED.signature)).status).toBe(401);
    clock = SENT + 901_000;
    try {
      expect((await post(stack, USER_DELETED.path, USER_DELETED.body, USER_DELETED.signature)).status).toBe(401);
    } finally {
      clock = TEN_MINUTES_LATER;
    }
    expect(await stack.built.tokens.get('fixture-d')).not.toBeNull();
  });
});

describe('PUBLIC_URL with a path, behind a proxy that strips it', () => {
  let prefixed: Stack;
  beforeAll(async () => {
    prefixed = await startStack({
      testRedis: stack.testRedis,
      emulator: stack.emulator,
      now: () => clock,
      env: { WEBHOOK_HMAC_SECRET: SECRET, WEBHOOK_MAX_AGE_S: '900', PUBLIC_URL: 'https://x.example/bank' },
    });
  });
  afterAll(async () => {
    await prefixed.close();
  });

  test('the service sees /webhooks/powens/USER_DELETED and checks the signature over /bank/webhooks/powens/USER_DELETED', async () => {
    await userFiledAs(prefixed, 'fixture-e', 4220);
    const hop = await post(prefixed, BEHIND_PREFIX.path, BEHIND_PREFIX.body, BEHIND_PREFIX.signature);
    expect(hop.status).toBe(202);
    expect(await prefixed.built.tokens.get('fixture-e')).toBeNull();
  });
});
