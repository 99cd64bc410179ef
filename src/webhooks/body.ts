import type { IncomingMessage } from 'node:http';
import { gunzip } from 'node:zlib';
import { AppError } from '../errors.js';

export interface WebhookBody {
  /** The bytes as they came over the wire (gzip-compressed when Content-Encoding says so). */
  wire: Buffer;
  /** The payload itself: `wire`, decompressed where needed. */
  payload: Buffer;
}

/**
 * Reads a webhook body as bytes, with one limit for the bytes received and the same limit for
 * the decompressed payload: a small gzip body that inflates past it (a gzip bomb) is refused
 * while inflating, never held in memory whole. The raw bytes are kept for the signature.
 */
export async function readWebhookBody(req: IncomingMessage, limit: number): Promise<WebhookBody> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const gzipped = encoding === 'gzip' || encoding === 'x-gzip';
  if (!gzipped && encoding !== 'identity') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', { logDetail: { contentEncoding: encoding.slice(0, 32) } });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new AppError('PAYLOAD_TOO_LARGE', { logDetail: { contentLength: declared, limit } });
  }
  const wire = await collect(req, limit);
  if (!gzipped) return { wire, payload: wire };
  const payload = await new Promise<Buffer>((resolve, reject) => {
    gunzip(wire, { maxOutputLength: limit }, (err, out) => (err === null ? resolve(out) : reject(err)));
  }).catch((err: unknown) => {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new AppError('PAYLOAD_TOO_LARGE', { cause: err, logDetail: { limit, inflated: true } });
    throw new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'body is not valid gzip' } });
  });
  return { wire, payload };
}

function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // The rest of the body is read and discarded by Node once the 413 is sent.
        reject(new AppError('PAYLOAD_TOO_LARGE', { logDetail: { limit } }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'request body could not be read' } }));
    };
    const onAborted = (): void => onError(new Error('request aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
