// The tests' own deadlines (test/helpers/wait.ts, Browser deadlineMs, rawRequest): a wait that
// cannot end fails in time, and its message names what was awaited.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Browser } from '../helpers/browser.js';
import { rawRequest } from '../helpers/raw-http.js';
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

/** A TCP server that hands each connection to `onConnection`; closed, with its sockets, by the returned function. */
async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<{ base: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    // The client resets the sockets it gives up on: that is the point, not a failure.
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('a raw request sends its bytes as given and reads the whole answer, repeated headers and chunked body included', async () => {
  let sent = Buffer.alloc(0);
  const server = await tcpServer((socket) => {
    socket.on('data', (d: Buffer) => {
      sent = Buffer.concat([sent, d]);
      if (!sent.includes('\r\n\r\n')) return;
      socket.end('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n3\r\nbar\r\n0\r\n\r\n');
    });
  });
  try {
    const res = await rawRequest(server.base, {
      method: 'GET',
      path: '/a/../b',
      headers: [
        ['X-Id', Buffer.from([0xe9])],
        ['X-Id', 'é'],
      ],
    });
    const host = new URL(server.base).host;
    const expected = Buffer.concat([
      Buffer.from(`GET /a/../b HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nX-Id: `),
      Buffer.from([0xe9]),
      Buffer.from('\r\nX-Id: é\r\n\r\n', 'utf8'),
    ]);
    expect(sent.toString('latin1')).toBe(expected.toString('latin1'));
    expect({ status: res.status, cookies: res.headers.get('set-cookie'), body: res.body }).toEqual({ status: 200, cookies: ['a=1', 'b=2'], body: 'foobar' });
  } finally {
    await server.close();
  }
});

test('a raw request fails naming the request once its total deadline passes, even while the server keeps sending bytes', async () => {
  const server = await tcpServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\n');
    // A byte every 20 ms: no idle timeout would ever fire.
    const trickle = setInterval(() => socket.write('X'), 20);
    socket.on('close', () => clearInterval(trickle));
  });
  try {
    await expect(rawRequest(server.base, { method: 'GET', path: '/trickle' }, 200)).rejects.toThrow(
      'timed out after 200 ms waiting for the answer to the raw GET /trickle',
    );
  } finally {
    await server.close();
  }
});
