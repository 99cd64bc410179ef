// The tests' own deadlines (test/helpers/wait.ts, Browser deadlineMs): a wait that cannot end
// fails in time, and its message names what was awaited.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Browser } from '../helpers/browser.js';
import { DeadlineError, waitFor, withinDeadline } from '../helpers/wait.js';

test('withinDeadline answers the value in time, else fails naming what it waited for', async () => {
  expect(await withinDeadline(Promise.resolve(3), 50, 'three')).toBe(3);
  await expect(withinDeadline(new Promise(() => undefined), 50, 'a promise that never settles')).rejects.toThrow(
    'timed out after 50 ms waiting for a promise that never settles',
  );
  await expect(withinDeadline(Promise.reject(new Error('its own error')), 50, 'x')).rejects.toThrow('its own error');
});

test('waitFor checks until true; past its deadline it fails with what and the detail, even when a check hangs', async () => {
  let checks = 0;
  await waitFor(() => (checks += 1) > 3, { timeoutMs: 1000, intervalMs: 1, what: 'the fourth check' });
  expect(checks).toBe(4);
  await expect(waitFor(() => false, { timeoutMs: 100, what: 'something false', detail: () => 'the output' })).rejects.toThrow(
    /^timed out after 100 ms waiting for something false\nthe output$/,
  );
  await expect(waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 100, what: 'a hanging check' })).rejects.toBeInstanceOf(DeadlineError);
  await expect(waitFor(() => false, { timeoutMs: 5000, what: 'a process', giveUpIf: () => 'it exited' })).rejects.toThrow(
    'gave up waiting for a process: it exited',
  );
});

test('a Browser request with deadlineMs fails naming the request when the server never answers', async () => {
  const server = http.createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const b = new Browser(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    await expect(b.request('GET', '/hangs?x=1', { deadlineMs: 100 })).rejects.toThrow('timed out after 100 ms waiting for the answer to GET /hangs');
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
