import { completeWebview } from '../../emulator/index.js';
import { startConnect, startStack, type Stack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

test('a first connection exchanges the code and lists the connection', async () => {
  const b = stack.browser('alice');
  const webview = await startConnect(b, '/connect?return_to=/done');
  const back = await completeWebview(webview, { kind: 'connect' });
  const cb = await b.get(back.href);
  expect(cb.status).toBe(303);
  expect(cb.location).toMatch(/^\/done\?connection_id=\d+$/);
  const list = await b.get('/me/connections');
  expect(list.status).toBe(200);
  const body = JSON.parse(list.text) as { linked: boolean; connections: { status: string }[] };
  expect(body.linked).toBe(true);
  expect(body.connections).toHaveLength(1);
  expect(body.connections[0]?.status).toBe('ok');
});
