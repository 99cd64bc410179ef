/**
 * A raw HTTP/1.1 connection for tests that must control exactly which socket a request travels
 * on (keep-alive, half-sent requests) and see whether the server closes it.
 */
import net from 'node:net';
import { withinDeadline } from './wait.js';

/** A raw HTTP/1.1 connection: what was received, and whether the server closed it. */
export interface RawConnection {
  socket: net.Socket;
  received(): string;
  closed: Promise<void>;
  /**
   * Resolves once `count` complete responses (headers and Content-Length body) have arrived;
   * fails, naming the connection, if they have not within `timeoutMs` (10 s unless told).
   */
  responses(count: number, timeoutMs?: number): Promise<string[]>;
}

export async function connect(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let data = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const parse = (): string[] => {
    const out: string[] = [];
    let rest = data;
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end === -1) return out;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
      if (rest.length < end + 4 + length) return out;
      out.push(rest.slice(0, end + 4 + length));
      rest = rest.slice(end + 4 + length);
    }
  };
  return {
    socket,
    received: () => data,
    closed,
    responses: (count, timeoutMs = 10_000) =>
      withinDeadline(
        new Promise<string[]>((resolve, reject) => {
          const check = (): void => {
            const got = parse();
            if (got.length >= count) resolve(got);
            else if (socket.destroyed) reject(new Error(`connection closed after ${got.length} responses:\n${data}`));
            else waiters.push(check);
          };
          socket.once('close', check);
          check();
        }),
        timeoutMs,
        `${count} response(s) on a raw connection to port ${port}`,
      ),
  };
}

export const status = (response: string | undefined): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response ?? '')?.[1] ?? 0);
