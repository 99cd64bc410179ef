/**
 * HTTP/1.1 over a plain socket, byte for byte, for what fetch and node:http cannot do: send a path
 * as is (`../`, `%2e%2e`), header values with control characters or bytes that are not UTF-8,
 * a header repeated; choose the socket a request travels on (keep-alive, half-sent requests) and
 * see whether the server closes it. Every wait here has a total deadline that fails naming what
 * was awaited: a server that trickles bytes cannot keep a test waiting.
 */
import net from 'node:net';
import { withinDeadline } from './wait.js';

/** How long a wait of this module lasts unless told: connecting, one exchange, responses. */
const DEADLINE_MS = 10_000;

/** A raw HTTP/1.1 connection: what was received, and whether the server closed it. */
export interface RawConnection {
  socket: net.Socket;
  /** Every byte received so far, one character per byte (latin1). */
  received(): string;
  /** Every byte received so far. */
  bytes(): Buffer;
  /** The socket's error (a reset, say), once it had one. */
  error(): Error | undefined;
  /** Resolves once the socket is closed, by either side. */
  closed: Promise<void>;
  /**
   * Resolves once `count` complete responses (headers and Content-Length body) have arrived;
   * fails, naming the connection, if they have not within `timeoutMs` (10 s unless told).
   */
  responses(count: number, timeoutMs?: number): Promise<string[]>;
}

/** Opens a raw connection to `host`:`port`; fails, naming it, if not connected within `deadlineMs`. */
export async function connect(port: number, host = '127.0.0.1', deadlineMs = DEADLINE_MS): Promise<RawConnection> {
  const socket = net.connect(port, host);
  let failure: Error | undefined;
  // Kept for the socket's whole life: an 'error' event with no listener would crash the test process.
  socket.on('error', (err) => {
    failure = err;
  });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await withinDeadline(connected, deadlineMs, `a raw connection to ${host}:${port}`).catch((err: unknown) => {
    socket.destroy();
    throw err;
  });
  const chunks: Buffer[] = [];
  let data = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
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
    bytes: () => Buffer.concat(chunks),
    error: () => failure,
    closed,
    responses: (count, timeoutMs = DEADLINE_MS) =>
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

/** The status code of a response as received (0 when there is none). */
export const status = (response: string | undefined): number => Number(/^HTTP\/1\.[01] (\d{3})/.exec(response ?? '')?.[1] ?? 0);

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers keep every value. */
  headers: Map<string, string[]>;
  /** The response head as received (status line and headers). */
  head: string;
  /** The body, de-chunked when it was sent chunked, read as UTF-8. */
  body: string;
  header(name: string): string | undefined;
}

export interface RawRequest {
  method: string;
  /** Sent as is: no normalisation, no encoding. */
  path: string;
  /**
   * In order, repeats included. A string value is written as its UTF-8 bytes, a Buffer as is;
   * neither is checked (CR/LF included).
   */
  headers?: [string, string | Buffer][];
  body?: string | Buffer;
}

function encodeRequest(host: string, req: RawRequest): Buffer {
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  const line = (...parts: (string | Buffer)[]): Buffer =>
    Buffer.concat([...parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'))), Buffer.from('\r\n')]);
  const lines = [line(`${req.method} ${req.path} HTTP/1.1`), line(`Host: ${host}`), line('Connection: close')];
  for (const [name, value] of req.headers ?? []) lines.push(line(`${name}: `, value));
  if (body !== undefined) lines.push(line(`Content-Length: ${body.length}`));
  return Buffer.concat([...lines, line(), ...(body === undefined ? [] : [body])]);
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function parseResponse(data: Buffer): RawResponse {
  const split = data.indexOf('\r\n\r\n');
  const head = (split === -1 ? data : data.subarray(0, split)).toString('latin1');
  const rest = split === -1 ? Buffer.alloc(0) : data.subarray(split + 4);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const l of headerLines) {
    const colon = l.indexOf(':');
    if (colon <= 0) continue;
    const name = l.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), l.slice(colon + 1).trim()]);
  }
  const chunked = /chunked/i.test(headers.get('transfer-encoding')?.join(',') ?? '');
  const body = (chunked ? decodeChunked(rest) : rest).toString('utf8');
  return { status: status(statusLine), headers, head, body, header: (name) => headers.get(name.toLowerCase())?.join(', ') };
}

/**
 * One request on a connection of its own (`Connection: close`), and the full response the server
 * sends before closing it. Fails, naming the request, unless the server has closed the connection
 * within `deadlineMs` of the start, connecting included.
 */
export async function rawRequest(base: string, req: RawRequest, deadlineMs = DEADLINE_MS): Promise<RawResponse> {
  const url = new URL(base);
  let conn: RawConnection | undefined;
  const exchange = async (): Promise<Buffer> => {
    conn = await connect(Number(url.port), url.hostname, deadlineMs);
    // Not end(): a half-closed socket makes Node drop a response still being prepared.
    conn.socket.write(encodeRequest(url.host, req));
    await conn.closed;
    const failure = conn.error();
    // The server may answer (431, 413) and reset before reading everything we sent: the answer counts.
    if (conn.bytes().length === 0 && failure !== undefined) throw failure;
    return conn.bytes();
  };
  const what = `the answer to the raw ${req.method} ${req.path.slice(0, 80)}`;
  const data = await withinDeadline(exchange(), deadlineMs, what).finally(() => conn?.socket.destroy());
  return parseResponse(data);
}
