import { createHmac, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { SendWebhookOptions, WebhookDelivery } from '../../emulator/index.js';
import { connectBank, expectProblem, freshUser, listConnections } from '../helpers/api.js';
import type { Browser, Hop } from '../helpers/browser.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = `whsec-${randomBytes(12).toString('hex')}`;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { WEBHOOK_HMAC_SECRET: SECRET } });
});
afterAll(async () => {
  await stack.close();
});
afterEach(() => {
  stack.emulator.emulator.knobs.reset();
});

const knobs = () => stack.emulator.emulator.knobs;
const hookUrl = () => `${stack.url}/webhooks/powens`;
const signed: SendWebhookOptions = { hmacSecret: SECRET };

interface Linked {
  userId: string;
  b: Browser;
  connectionId: number;
  powensUserId: number;
  token: string;
}

/** An app user linked through the real flow, with its connections list already cached. */
async function linkedUser(): Promise<Linked> {
  const { userId, b } = freshUser(stack);
  const connectionId = await connectBank(b);
  const stored = await stack.built.tokens.get(userId);
  if (stored === null || stored.powensUserId === null) throw new Error('the flow stored no token');
  await listConnections(b);
  return { userId, b, connectionId, powensUserId: stored.powensUserId, token: stored.token };
}

/** Sends a webhook and waits for the work it caused. */
async function deliver(event: string, payload: unknown, options: SendWebhookOptions): Promise<WebhookDelivery> {
  const res = await knobs().sendWebhook(hookUrl(), event, payload, options);
  await stack.built.webhooks.idle();
  return res;
}

/** A raw POST to the webhook route, for bodies the emulator would never send. */
async function post(path: string, body: Uint8Array | string, headers: Record<string, string>): Promise<Hop> {
  return stack.browser().request('POST', path, { headers: { 'content-type': 'application/json', ...headers }, body: body as string });
}

/** Powens' documented signature, computed here independently of the emulator and the service. */
function signedHeaders(path: string, body: Buffer | string, date = new Date().toISOString()): Record<string, string> {
  const signature = createHmac('sha256', SECRET).update(`POST.${path}.${date}.`).update(body).digest('base64');
  return { 'bi-signature-date': date, 'bi-signature': signature };
}

async function statusOf(l: Linked): Promise<string | undefined> {
  return (await listConnections(l.b)).connections.find((c) => c.id === l.connectionId)?.status;
}

describe('authentication', () => {
  test('a delivery signed with the secret is accepted and its work is done', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    // Served from the cache until Powens says something changed.
    expect(await statusOf(l)).toBe('ok');
    const res = await deliver('CONNECTION_SYNCED', knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }), signed);
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body)).toEqual({ status: 'accepted' });
    expect(await statusOf(l)).toBe('action_needed');
  });

  test('a signature made with another secret is a 401 problem and changes nothing', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const res = await deliver('CONNECTION_SYNCED', payload, { hmacSecret: `${SECRET}-not` });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual(expect.objectContaining({ status: 401, code: 'WEBHOOK_UNAUTHORIZED' }));
    expect(await statusOf(l)).toBe('ok');
  });

  test('a signature over another event name (the query) is refused', async () => {
    const l = await linkedUser();
    const body = JSON.stringify({ id_webhook_data: Date.now(), user: { id: l.powensUserId } });
    const headers = signedHeaders('/webhooks/powens?event=CONNECTION_SYNCED', body);
    const hop = await post('/webhooks/powens?event=USER_DELETED', body, headers);
    expectProblem(hop, 401);
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
  });

  test('a signature dated more than 5 minutes ago is refused, even when it is right', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId });
    const res = await deliver('USER_DELETED', payload, { ...signed, date: new Date(Date.now() - 6 * 60 * 1000) });
    expect(res.status).toBe(401);
    const future = await deliver('USER_DELETED', payload, { ...signed, date: new Date(Date.now() + 6 * 60 * 1000) });
    expect(future.status).toBe(401);
    const garbled = await deliver('USER_DELETED', payload, { ...signed, date: 'yesterday' });
    expect(garbled.status).toBe(401);
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
  });

  test("the user's own token as bearer is accepted", async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'wrongpass');
    const res = await deliver('CONNECTION_SYNCED', knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }), {
      bearer: l.token,
    });
    expect(res.status).toBe(202);
    expect(await statusOf(l)).toBe('action_needed');
  });

  test("a wrong bearer, or another user's token, is a 401 and changes nothing", async () => {
    const l = await linkedUser();
    const other = await linkedUser();
    const payload = knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId });
    for (const bearer of [`${l.token}x`, other.token, 'not-a-token']) {
      const res = await deliver('USER_DELETED', payload, { bearer });
      expect(res.status).toBe(401);
    }
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
    expect(await stack.built.tokens.get(other.userId)).not.toBeNull();
  });

  test('a delivery with neither signature nor bearer is a 401 problem', async () => {
    const l = await linkedUser();
    const hop = await post('/webhooks/powens?event=USER_DELETED', JSON.stringify({ user: { id: l.powensUserId } }), {});
    expectProblem(hop, 401);
    expect(await stack.built.tokens.get(l.userId)).not.toBeNull();
  });

  test('a delivery with neither signature nor bearer is a 401 whatever its body, malformed or over the limit', async () => {
    const path = '/webhooks/powens?event=CONNECTION_SYNCED';
    expectProblem(await post(path, '{"user": {', {}), 401);
    expectProblem(await post(path, 'x'.repeat(stack.config.webhookBodyLimitBytes + 1), {}), 401);
    expectProblem(await post(path, new Uint8Array(Buffer.from('not gzip')), { 'content-encoding': 'gzip' }), 401);
  });

  test('neither the token nor the signature reaches the logs', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    await deliver('CONNECTION_SYNCED', payload, { bearer: l.token });
    await deliver('CONNECTION_SYNCED', payload, { bearer: `${l.token}x` });
    const logs = stack.logs.join('\n');
    expect(logs).toContain('/webhooks/powens');
    expect(logs).not.toContain(l.token);
    expect(logs).not.toMatch(/bi-signature/i);
  });
});

describe('bodies', () => {
  test('a gzip body is accepted and acted on', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'bug');
    const res = await deliver('CONNECTION_SYNCED', knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId }), {
      ...signed,
      gzip: true,
    });
    expect(res.status).toBe(202);
    expect(await statusOf(l)).toBe('temporary_error');
  });

  test('a first-sync sized payload (several MB) is accepted', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const transactions = Array.from({ length: 20_000 }, (_, i) => ({ id: i + 1, wording: `CARTE X1234 ACHAT ${'x'.repeat(160)}`, value: -1.5 }));
    const big = { ...payload, connection: { ...(payload.connection as object), accounts: [{ id: 1, transactions }] } };
    expect(JSON.stringify(big).length).toBeGreaterThan(4 * 1024 * 1024);
    expect((await deliver('CONNECTION_SYNCED', big, signed)).status).toBe(202);
    expect((await deliver('CONNECTION_SYNCED', big, { ...signed, gzip: true })).status).toBe(202);
  });

  test('a body over the limit is a 413 problem', async () => {
    const body = JSON.stringify({ id_webhook_data: 1, filler: 'x'.repeat(stack.config.webhookBodyLimitBytes) });
    const hop = await post('/webhooks/powens?event=CONNECTION_SYNCED', body, signedHeaders('/webhooks/powens?event=CONNECTION_SYNCED', body));
    expectProblem(hop, 413);
  });

  test('a small gzip body that inflates past the limit (a gzip bomb) is a 413 problem', async () => {
    const bomb = gzipSync(Buffer.alloc(stack.config.webhookBodyLimitBytes * 4, 0x20));
    expect(bomb.length).toBeLessThan(stack.config.webhookBodyLimitBytes / 10);
    const path = '/webhooks/powens?event=CONNECTION_SYNCED';
    const hop = await post(path, new Uint8Array(bomb), { 'content-encoding': 'gzip', ...signedHeaders(path, bomb) });
    expectProblem(hop, 413);
  });

  test('a body that is not gzip although it says so is a 400 problem', async () => {
    const path = '/webhooks/powens?event=CONNECTION_SYNCED';
    const body = '{"id_webhook_data": 1}';
    expectProblem(await post(path, body, { 'content-encoding': 'gzip', ...signedHeaders(path, body) }), 400);
  });

  test('an encoding other than gzip is a 415 problem', async () => {
    const path = '/webhooks/powens?event=CONNECTION_SYNCED';
    const body = '{"id_webhook_data": 1}';
    expectProblem(await post(path, body, { 'content-encoding': 'br', ...signedHeaders(path, body) }), 415);
  });

  test('malformed JSON, correctly signed, is a 400 problem', async () => {
    const res = await deliver('CONNECTION_SYNCED', '{"id_webhook_data": 12, "user": {', signed);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual(expect.objectContaining({ status: 400, code: 'BAD_REQUEST' }));
    const notObject = await deliver('CONNECTION_SYNCED', '[1, 2]', signed);
    expect(notObject.status).toBe(400);
  });
});

describe('delivery', () => {
  test('a replayed id_webhook_data is acknowledged as a duplicate and not acted on again', async () => {
    const l = await linkedUser();
    const payload = knobs().webhookPayload('CONNECTION_SYNCED', { connectionId: l.connectionId });
    const first = await deliver('CONNECTION_SYNCED', payload, signed);
    expect(first.status).toBe(202);
    // The emulator gave the first delivery its id; the same delivery comes again.
    const replayed = { ...payload, id_webhook_data: first.idWebhookData };
    await listConnections(l.b);
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const second = await deliver('CONNECTION_SYNCED', replayed, signed);
    expect(second.status).toBe(200);
    expect(JSON.parse(second.body)).toEqual({ status: 'duplicate' });
    // The cache filled after the first delivery was not refreshed by the replay.
    expect(await statusOf(l)).toBe('ok');
  });

  test('an event the service does not act on is acknowledged and ignored', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'SCARequired');
    const res = await deliver('ACCOUNT_SYNCED', { id: 1, id_user: l.powensUserId, id_connection: l.connectionId, balance: 10 }, signed);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ignored' });
    const unnamed = await knobs().sendWebhook(`${hookUrl()}?event=`, '', { user: { id: l.powensUserId } }, signed);
    expect(JSON.parse(unnamed.body)).toEqual({ status: 'ignored' });
    expect(await statusOf(l)).toBe('ok');
  });

  test('a delivery about a Powens user the service does not know is accepted and changes nothing', async () => {
    const stranger = knobs().addUser();
    const res = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: stranger.userId }), signed);
    expect(res.status).toBe(202);
    expect(stack.logs.some((l) => l.includes('Powens user the service does not know') && l.includes(`"powensUserId":${stranger.userId}`))).toBe(true);
  });
});

describe('effects', () => {
  test('CONNECTION_DELETED removes the connection from the next list', async () => {
    const l = await linkedUser();
    // Deleted at Powens behind the service's back (in the webview, by support...).
    await stack.powens.deleteConnection(l.token, l.connectionId);
    expect((await listConnections(l.b)).connections.map((c) => c.id)).toEqual([l.connectionId]);
    const payload = knobs().webhookPayload('CONNECTION_DELETED', { connectionId: l.connectionId, userId: l.powensUserId });
    expect(payload).toEqual(expect.objectContaining({ id: l.connectionId, id_user: l.powensUserId }));
    expect((await deliver('CONNECTION_DELETED', payload, signed)).status).toBe(202);
    expect(await listConnections(l.b)).toEqual({ linked: true, connections: [] });
  });

  test('USER_DELETED drops the stored token and the cached list', async () => {
    const l = await linkedUser();
    const res = await deliver('USER_DELETED', knobs().webhookPayload('USER_DELETED', { userId: l.powensUserId }), { bearer: l.token });
    expect(res.status).toBe(202);
    expect(await stack.built.tokens.get(l.userId)).toBeNull();
    expect(await listConnections(l.b)).toEqual({ linked: false, connections: [] });
  });

  test('the emulator sends a built webhook over HTTP (POST /__emulator/webhooks/send)', async () => {
    const l = await linkedUser();
    knobs().setConnectionState(l.connectionId, 'passwordExpired');
    const res = await fetch(`${stack.emulator.url}/__emulator/webhooks/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: hookUrl(), event: 'CONNECTION_SYNCED', connectionId: l.connectionId, hmacSecret: SECRET, gzip: true }),
    });
    expect(res.status).toBe(200);
    const delivery = (await res.json()) as { status: number; body: string; idWebhookData: unknown };
    expect(delivery).toEqual(expect.objectContaining({ status: 202, idWebhookData: expect.any(Number) as unknown as number }));
    await stack.built.webhooks.idle();
    expect(await statusOf(l)).toBe('action_needed');
  });
});
