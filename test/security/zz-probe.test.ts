import { rawRequest } from './raw.js';
import { startStack, type Stack } from '../helpers/stack.js';
let s: Stack;
beforeAll(async () => { s = await startStack({ env: { CORS_ORIGINS: 'https://app.example.com' } }); });
afterAll(async () => { await s.close(); });
test('probe', async () => {
  const base = s.server.url;
  const show = async (label: string, r: Parameters<typeof rawRequest>[1]) => {
    try {
    const res = await rawRequest(base, r);
    console.log(label, res.status, JSON.stringify(res.head), res.body.slice(0, 120).replace(/\n/g, ' '));
    } catch (e) { console.log(label, 'ERR', e); }
  };
  await show('gzip', { method: 'DELETE', path: '/me/connections', headers: [['x-user-id', 'a'], ['x-csrf', '1'], ['content-type', 'application/json'], ['content-encoding', 'gzip']], body: 'garbage' });
  await show('head', { method: 'HEAD', path: '/me/connections', headers: [['x-user-id', 'a']] });
  console.log(s.logs.slice(-4).join(''));
});
