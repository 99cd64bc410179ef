import { createEmulator } from '../../emulator/index.js';
import { AppError } from '../../src/errors.js';
import { parseWebhookPayload } from '../../src/webhooks/payload.js';

const parse = (value: unknown) => parseWebhookPayload(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

describe('parseWebhookPayload', () => {
  test.each([
    ['id_user', { id_webhook_data: 7, id: 3, id_user: 42 }],
    ['user.id', { id_webhook_data: 7, user: { id: 42 } }],
    ['connection.id_user', { id_webhook_data: 7, connection: { id: 3, id_user: 42 } }],
    ['user.id and connection.id_user agreeing', { id_webhook_data: 7, user: { id: 42 }, connection: { id_user: 42 } }],
  ])('finds the Powens user named by %s', (_name, payload) => {
    expect(parse(payload)).toEqual({ idWebhookData: '7', powensUserId: 42 });
  });

  test('a payload naming two different users names none', () => {
    expect(parse({ user: { id: 42 }, connection: { id_user: 43 } }).powensUserId).toBeUndefined();
  });

  test.each([[0], [-1], [1.5], ['42x'], [null], [{}]])('%p is not a user id', (id) => {
    expect(parse({ id_user: id }).powensUserId).toBeUndefined();
  });

  test('a delivery id may be a number or a plain string, nothing else', () => {
    expect(parse({ id_webhook_data: 'abc-1' }).idWebhookData).toBe('abc-1');
    expect(parse({ id_webhook_data: { a: 1 } }).idWebhookData).toBeUndefined();
    expect(parse({ id_webhook_data: 'a b\nc' }).idWebhookData).toBeUndefined();
  });

  test.each([['{"user":'], ['[1]'], ['"text"'], ['null']])('%p is a bad request', (text) => {
    expect(() => parse(text)).toThrow(AppError);
  });
});

describe("the emulator's webhook payloads", () => {
  const emulator = createEmulator();
  const { userId, connectionIds } = emulator.knobs.addUser();
  const connectionId = connectionIds[0] ?? 0;

  test('CONNECTION_SYNCED carries the user and the connection with its accounts', () => {
    const payload = emulator.knobs.webhookPayload('CONNECTION_SYNCED', { connectionId });
    expect(payload).toEqual({
      user: expect.objectContaining({ id: userId }) as unknown,
      connection: expect.objectContaining({ id: connectionId, id_user: userId, accounts: expect.any(Array) as unknown }) as unknown,
    });
    expect(parse(payload).powensUserId).toBe(userId);
  });

  test('CONNECTION_DELETED is the connection itself; USER_DELETED names the user', () => {
    const deleted = emulator.knobs.webhookPayload('CONNECTION_DELETED', { connectionId });
    expect(deleted).toEqual(expect.objectContaining({ id: connectionId, id_user: userId }));
    expect(parse(deleted).powensUserId).toBe(userId);
    expect(parse(emulator.knobs.webhookPayload('USER_DELETED', { userId })).powensUserId).toBe(userId);
  });
});
