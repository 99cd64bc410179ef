import net from 'node:net';
import { timedOut } from '../helpers/wait.js';

/**
 * HTTP/1.1 over a plain socket, byte for byte: fetch and node:http normalise paths (`../`,
 * `%2e%2e`) and refuse control characters in headers, which is exactly what an attacker sends.
 */

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers keep every value. */
  headers: Map<string, string[]>;
  /** The response head as received (status line and headers). */
  head: string;
  body: string;
  header(name: string): string | undefined;
}

export interface RawRequest {
  method: string;
  /** Sent as is: no normalisation, no encoding. */
  path: string;
  /** Values are written as UTF-8 bytes, unchecked (CR/LF included). */
  headers?: [string, string][];
  body?: string | Buffer;
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

export function encodeRequest(host: string, req: RawRequest): Buffer {
  const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
  const lines = [`${req.method} ${req.path} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  for (const [name, value] of req.headers ?? []) lines.push(`${name}: ${value}`);
  if (body !== undefined) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
  return body === undefined ? head : Buffer.concat([head, body]);
}

export async function rawRequest(base: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(base);
  const data = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    // The server may answer (431, 413) and reset before reading everything we sent.
    socket.on('error', (err) => (chunks.length > 0 ? resolve(Buffer.concat(chunks)) : reject(err)));
    socket.setTimeout(10_000, () => socket.destroy(timedOut(`the answer to the raw ${req.method} ${req.path.slice(0, 80)} (10 s without a byte)`, 10_000)));
    // Not end(): a half-closed socket makes Node drop a response still being prepared.
    socket.write(encodeRequest(url.host, req));
  });
  const split = data.indexOf('\r\n\r\n');
  const head = (split === -1 ? data : data.subarray(0, split)).toString('latin1');
  const rest = split === -1 ? Buffer.alloc(0) : data.subarray(split + 4);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers = new Map<string, string[]>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const chunked = /chunked/i.test(headers.get('transfer-encoding')?.join(',') ?? '');
  const body = (chunked ? decodeChunked(rest) : rest).toString('utf8');
  return { status, headers, head, body, header: (name) => headers.get(name.toLowerCase())?.join(', ') };
}
