import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';
import { AppError } from '../errors.js';

export type BodyEncoding = 'identity' | 'gzip';

/**
 * The body's encoding from `Content-Encoding`, and its declared size against the limit: both
 * judged from the headers, before anything is read. Powens gzips only when the domain enables
 * it, and then says `content-encoding: gzip` (docs/POWENS-API.md, "Webhooks").
 */
export function checkBodyHeaders(headers: IncomingHttpHeaders, limit: number): BodyEncoding {
  const encoding = (headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const gzipped = encoding === 'gzip' || encoding === 'x-gzip';
  if (!gzipped && encoding !== 'identity') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', { logDetail: { contentEncoding: encoding.slice(0, 32) } });
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new AppError('PAYLOAD_TOO_LARGE', { logDetail: { contentLength: declared, limit } });
  }
  return gzipped ? 'gzip' : 'identity';
}

export interface ReadBodyOptions {
  encoding: BodyEncoding;
  /** Most bytes accepted over the wire, and most bytes of payload after inflation. */
  limit: number;
  /** Told of each chunk as received (the signature over the bytes as sent). */
  onWire?: (chunk: Buffer) => void;
  /** Told of each chunk of the payload, inflated where needed (the signature over the payload). */
  onPayload?: (chunk: Buffer) => void;
}

/**
 * Reads a webhook body as it streams in, inflating a gzip body on the way: neither the bytes
 * received nor the inflated payload may pass `limit`, and past it reading stops at once, so a
 * small gzip body that inflates to gigabytes (a gzip bomb) costs at most `limit` bytes of
 * memory and the time to inflate them. Only the payload is kept, as the chunks it came in (the
 * caller joins them once the signature matched, so a forged body is never copied); the wire
 * bytes go to `onWire` and are dropped. A refusal while reading leaves the rest of the body
 * unread (the route answers with `Connection: close`).
 */
export function readWebhookBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Buffer[]> {
  const { limit, onWire, onPayload } = options;
  return new Promise<Buffer[]>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireSize = 0;
    let size = 0;
    let settled = false;
    // 64 KiB output chunks rather than zlib's 16: a quarter of the round trips through the thread
    // pool (one event-loop turn each) to inflate a large body, which matters when the loop is busy.
    const gunzip = options.encoding === 'gzip' ? createGunzip({ chunkSize: 64 * 1024 }) : undefined;

    const finish = (err: AppError | undefined): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      req.off('close', onClose);
      if (err !== undefined) {
        req.pause();
        gunzip?.destroy();
        chunks.length = 0;
        reject(err);
      } else resolve(chunks);
    };
    const tooLarge = (inflated: boolean): AppError => new AppError('PAYLOAD_TOO_LARGE', { logDetail: { limit, inflated } });

    const takePayload = (chunk: Buffer): void => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        finish(tooLarge(gunzip !== undefined));
        return;
      }
      onPayload?.(chunk);
      chunks.push(chunk);
    };
    const onData = (chunk: Buffer): void => {
      wireSize += chunk.length;
      if (wireSize > limit) {
        finish(tooLarge(false));
        return;
      }
      onWire?.(chunk);
      if (gunzip === undefined) takePayload(chunk);
      // Backpressure: the socket is read no faster than the inflater keeps up.
      else if (!gunzip.write(chunk)) req.pause();
    };
    const onEnd = (): void => {
      if (gunzip === undefined) finish(undefined);
      else gunzip.end();
    };
    const onError = (err: Error): void => {
      finish(new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'request body could not be read' } }));
    };
    const onAborted = (): void => onError(new Error('request aborted'));
    const onClose = (): void => {
      if (!req.complete) onError(new Error('connection closed before the end of the body'));
    };

    if (gunzip !== undefined) {
      gunzip.on('data', takePayload);
      gunzip.on('drain', () => {
        if (!settled) req.resume();
      });
      gunzip.on('end', () => finish(undefined));
      gunzip.on('error', (err: Error) => {
        finish(new AppError('BAD_REQUEST', { cause: err, logDetail: { reason: 'body is not valid gzip' } }));
      });
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
    req.on('close', onClose);
  });
}
