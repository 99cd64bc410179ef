import { randomBytes } from 'node:crypto';
import type { ConnectionsAnswer } from '../../src/connections/service.js';
import type { ConnectionView } from '../../src/powens/status.js';
import { completeWebview, type WebviewAction } from '../../emulator/index.js';
import { createKeys } from '../../src/storage/keys.js';
import type { Browser, Hop } from './browser.js';
import { startConnect, type Stack } from './stack.js';

/** The JSON body of `GET /me/connections` (the server's own type: the OpenAPI test checks the wire). */
export type ConnectionsBody = ConnectionsAnswer;

/** A healthy connection as the service shows it, with id `id`: what cache tests store and load. */
export function connectionView(id: number): ConnectionView {
  return {
    id,
    connector: { id: 59, name: 'Demo Bank', uuid: null },
    state: null,
    status: 'ok',
    message: null,
    lastUpdate: null,
    createdAt: null,
    expiresAt: null,
    expiresSoon: false,
    active: true,
    reconnectUrl: null,
  };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

/** Asserts an RFC 9457 problem answer with `status`, and returns it. */
export function expectProblem(hop: Hop, status: number): Problem {
  expect({ status: hop.status, type: hop.headers.get('content-type') }).toEqual({
    status,
    type: expect.stringMatching(/^application\/problem\+json/) as unknown as string,
  });
  expect(hop.location).toBeUndefined();
  const body = JSON.parse(hop.text) as Problem;
  const shape: Record<string, unknown> = { type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) };
  expect(body).toEqual(expect.objectContaining(shape));
  return body;
}

/** Adds a bank connection through the real flow (service → webview → callback); its id. */
export async function connectBank(b: Browser, action: WebviewAction = { kind: 'connect' }): Promise<number> {
  const webview = await startConnect(b);
  const back = await completeWebview(webview, action);
  const cb = await b.get(back.href);
  if (cb.status !== 303) throw new Error(`callback answered ${cb.status}: ${cb.text.slice(0, 300)}`);
  const id = Number(new URL(cb.location ?? '', b.base).searchParams.get('connection_id'));
  if (!Number.isInteger(id) || id <= 0) throw new Error(`no connection_id in ${cb.location ?? ''}`);
  return id;
}

export async function listConnections(b: Browser): Promise<ConnectionsBody> {
  const hop = await b.get('/me/connections');
  if (hop.status !== 200) throw new Error(`GET /me/connections answered ${hop.status}: ${hop.text.slice(0, 300)}`);
  return JSON.parse(hop.text) as ConnectionsBody;
}

/** The Redis key of a user's sealed Powens token. */
export function tokenKey(stack: Stack, userId: string): string {
  return createKeys(stack.config.redis.prefix).token(userId);
}

/** A new app user with its own browser (by default sending X-CSRF: 1, as the frontend does). */
export function freshUser(stack: Stack, headers: Record<string, string> = { 'x-csrf': '1' }): { userId: string; b: Browser } {
  const userId = `user-${randomBytes(6).toString('hex')}`;
  return { userId, b: stack.browser(userId, headers) };
}
