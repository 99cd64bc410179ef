import { createEmulator } from '../../emulator/index.js';
import { AppError } from '../../src/errors.js';
import { parseSignatureDate, readSignatureHeaders } from '../../src/webhooks/auth.js';
import { deliveryId, eventName, namedUser, parseWebhookBody, userOf, type HandledEvent } from '../../src/webhooks/payload.js';

const body = (value: unknown) => parseWebhookBody(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

describe('the event of a URL', () => {
  test.each([
    ['CONNECTION_SYNCED', 'CONNECTION_SYNCED'],
    ['connection-synced', 'CONNECTION_SYNCED'],
    ['Connection_Synced', 'CONNECTION_SYNCED'],
    ['user-deleted', 'USER_DELETED'],
  ])('%s is %s', (written, name) => {
    expect(eventName(written)).toBe(name);
  });

  test.each([[undefined], [''], ['not an event'], ['_USER'], ['x'.repeat(65)], ['USER/DELETED']])('%p is no event', (written) => {
    expect(eventName(written)).toBeUndefined();
  });
});

describe('the Powens user, read where each event has it', () => {
  test.each<[HandledEvent, unknown, number | undefined]>([
    ['USER_DELETED', { id_webhook_data: 7, id: 42, signin: '2024-01-02 03:04:05' }, 42],
    ['USER_DELETED', { id_webhook_data: 7, user: { id: 42 } }, 42],
    ['USER_DELETED', { id: 42, signin: null, user: { id: 42 } }, 42],
    ['USER_DELETED', { id: 42, signin: null, user: { id: 43 } }, undefined],
    // A bare id is no User object: a payment's, an account's... id is not read as a user's.
    ['USER_DELETED', { id: 42, state: 'done' }, undefined],
    // The deprecated USER_SYNCED: a user, and the connections synced.
    ['USER_DELETED', { user: { id: 42 }, connections: [] }, undefined],
    // A connection's body: its `id` is the connection's, never read as a user's.
    ['USER_DELETED', { id: 42, id_user: 7, id_connector: 59 }, undefined],
    // A sync's body names a user, but is no deletion of one.
    ['USER_DELETED', { user: { id: 42 }, connection: { id: 3, id_user: 42 } }, undefined],
    ['CONNECTION_DELETED', { id_webhook_data: 7, id: 3, id_user: 42 }, 42],
    ['CONNECTION_DELETED', { id: 42 }, undefined],
    ['CONNECTION_DELETED', { user: { id: 42 }, connection: { id: 3, id_user: 42 } }, undefined],
    ['CONNECTION_SYNCED', { user: { id: 42 }, connection: { id: 3, id_user: 42 } }, 42],
    ['CONNECTION_SYNCED', { user: { id: 42 } }, 42],
    ['CONNECTION_SYNCED', { connection: { id: 3, id_user: 42 } }, 42],
    ['CONNECTION_SYNCED', { user: { id: 42 }, connection: { id_user: 43 } }, undefined],
    ['CONNECTION_SYNCED', { id: 3, id_user: 42 }, undefined],
    ['CONNECTION_SYNCED', { id: 42, signin: '2024-01-02 03:04:05' }, undefined],
  ])('%s in %j: %p', (event, payload, user) => {
    expect(userOf(event, body(payload))).toBe(user);
  });

  test.each([[0], [-1], [1.5], ['42x'], [null], [{}], [2 ** 53]])('%p is not a user id', (id) => {
    expect(userOf('CONNECTION_DELETED', body({ id_user: id }))).toBeUndefined();
  });

  test('for an event the service ignores, a bearer token is checked against id_user, user.id or connection.id_user, never a bare id', () => {
    expect(namedUser(body({ id: 9, id_user: 42 }))).toBe(42);
    expect(namedUser(body({ user: { id: 42 } }))).toBe(42);
    expect(namedUser(body({ id: 42 }))).toBeUndefined();
  });
});

describe('the delivery id', () => {
  test('is an integer, or a plain string, nothing else', () => {
    expect(deliveryId(body({ id_webhook_data: 7 }))).toBe('7');
    expect(deliveryId(body({ id_webhook_data: 'abc-1' }))).toBe('abc-1');
    expect(deliveryId(body({ id_webhook_data: 1.5 }))).toBeUndefined();
    expect(deliveryId(body({ id_webhook_data: { a: 1 } }))).toBeUndefined();
    expect(deliveryId(body({ id_webhook_data: 'a b\nc' }))).toBeUndefined();
  });

  test.each([['{"user":'], ['[1]'], ['"text"'], ['null']])('%p is a bad request', (text) => {
    expect(() => body(text)).toThrow(AppError);
  });
});

describe('the signature headers, judged before the body', () => {
  const now = Date.parse('2022-06-27T11:08:52.577Z');
  const signature = Buffer.alloc(32, 7).toString('base64');
  const read = (headers: Record<string, string>) => readSignatureHeaders(headers, now, 300_000);

  test("Powens' date format (microseconds, Z) and other zoned ISO 8601 forms are read", () => {
    expect(parseSignatureDate('2022-06-27T11:08:52.577831Z')).toBe(now);
    expect(parseSignatureDate('2022-06-27T13:08:52.577+02:00')).toBe(now);
    expect(parseSignatureDate('2022-06-27T11:08:52Z')).toBe(now - 577);
  });

  test.each([['2022-06-27T11:08:52.577831'], ['2022-06-27 11:08:52Z'], ['Mon, 27 Jun 2022 11:08:52 GMT'], ['2022-13-45T11:08:52Z'], ['']])(
    '%p is not a signature date',
    (date) => {
      expect(parseSignatureDate(date)).toBeUndefined();
    },
  );

  test.each<[string, Record<string, string>, string]>([
    ['no signature', {}, 'no signature'],
    ['a signature of 31 bytes', { 'bi-signature': Buffer.alloc(31).toString('base64'), 'bi-signature-date': '2022-06-27T11:08:52Z' }, 'malformed signature'],
    ['a signature of 33 bytes', { 'bi-signature': Buffer.alloc(33).toString('base64'), 'bi-signature-date': '2022-06-27T11:08:52Z' }, 'malformed signature'],
    ['a hex signature', { 'bi-signature': Buffer.alloc(32).toString('hex'), 'bi-signature-date': '2022-06-27T11:08:52Z' }, 'malformed signature'],
    ['no date', { 'bi-signature': signature }, 'missing date'],
    ['a zone-less date', { 'bi-signature': signature, 'bi-signature-date': '2022-06-27T11:08:52' }, 'bad date'],
    ['a date 301 s old', { 'bi-signature': signature, 'bi-signature-date': new Date(now - 301_000).toISOString() }, 'date out of window'],
    ['a date 301 s ahead', { 'bi-signature': signature, 'bi-signature-date': new Date(now + 301_000).toISOString() }, 'date out of window'],
  ])('%s is refused', (_name, headers, reason) => {
    expect(read(headers)).toEqual({ ok: false, reason });
  });

  test('a 32-byte base64 signature, padded or not, dated within the window, goes on to the body', () => {
    for (const given of [signature, signature.replace(/=$/, '')]) {
      expect(read({ 'bi-signature': given, 'bi-signature-date': '2022-06-27T11:04:00.000001Z' })).toEqual({
        ok: true,
        signature: Buffer.alloc(32, 7),
        date: '2022-06-27T11:04:00.000001Z',
      });
    }
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
    expect(userOf('CONNECTION_SYNCED', body(payload))).toBe(userId);
  });

  test('CONNECTION_DELETED is the connection itself; USER_DELETED the user itself', () => {
    const deleted = emulator.knobs.webhookPayload('CONNECTION_DELETED', { connectionId });
    expect(deleted).toEqual(expect.objectContaining({ id: connectionId, id_user: userId }));
    expect(userOf('CONNECTION_DELETED', body(deleted))).toBe(userId);
    expect(userOf('USER_DELETED', body(deleted))).toBeUndefined();
    const user = emulator.knobs.webhookPayload('USER_DELETED', { userId });
    expect(user).toEqual({ id: userId, signin: expect.any(String) as unknown });
    expect(userOf('USER_DELETED', body(user))).toBe(userId);
  });
});
