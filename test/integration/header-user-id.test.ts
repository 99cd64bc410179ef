import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';
import { startStack, type Stack } from '../helpers/stack.js';

/**
 * AUTH_MODE=header, byte for byte (docs/REFERENCE.md, "Who the user is": a user id is 1 to 128 printable
 * characters, anything else a 400). fetch cannot send a repeated header or raw bytes, so these
 * requests are written to a socket.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

/** GET /me/connections with one X-User-Id line per value, each value sent as the exact bytes given. */
function getConnections(userHeaders: Buffer[]): Promise<RawResponse> {
  return rawRequest(stack.url, { method: 'GET', path: '/me/connections', headers: userHeaders.map((value) => ['X-User-Id', value]) });
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Links `userId` to a new Powens user of the emulator, as a finished flow would. */
async function link(userId: string): Promise<void> {
  const added = stack.emulator.emulator.knobs.addUser({ connections: [{}] });
  const stored = await stack.built.tokens.putIfAbsent(userId, { token: added.token, powensUserId: added.userId, createdAt: new Date().toISOString() });
  expect(stored).toBe(true);
}

describe('the user id header', () => {
  it('is read as UTF-8: a proxy sending "josé" names the user "josé", not "josÃ©"', async () => {
    await link('josé');
    const answer = await getConnections([utf8('josé')]);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ linked: true, connections: [expect.objectContaining({ id: expect.any(Number) })] });
  });

  it('counts characters, not bytes: 128 two-byte characters are accepted, 129 are a 400', async () => {
    expect((await getConnections([utf8('é'.repeat(128))])).status).toBe(200);
    const refused = await getConnections([utf8('é'.repeat(129))]);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 400, code: 'USER_ID_INVALID' });
  });

  it('accepts a printable character whose UTF-8 bytes read as latin1 would be control characters (€)', async () => {
    expect((await getConnections([utf8('€uro-user')])).status).toBe(200);
  });

  it('is a 400 when its bytes are not UTF-8', async () => {
    const answer = await getConnections([Buffer.from([0x6a, 0x6f, 0x73, 0xe9])]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'USER_ID_INVALID' });
  });

  it('is a 400 when repeated, never the two values joined into one id', async () => {
    await link('victim, attacker');
    const answer = await getConnections([utf8('victim'), utf8('attacker')]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'USER_ID_INVALID' });
    expect(answer.body).not.toContain('"linked"');
  });

  it('is a 400 when empty, and a 401 when absent', async () => {
    expect((await getConnections([Buffer.alloc(0)])).status).toBe(400);
    expect((await getConnections([])).status).toBe(401);
  });

  it('refuses invisible characters once decoded: a zero-width space or a bidi override is a 400', async () => {
    expect((await getConnections([utf8('vic\u200btim')])).status).toBe(400);
    expect((await getConnections([utf8('victim\u202e')])).status).toBe(400);
  });
});
