import { Cluster, type Redis } from 'ioredis';
import type { TokenKey } from '../config.js';
import type { Keys } from './keys.js';
import type { RedisClient } from './redis.js';
import { sealedKeyId } from './seal.js';
import { TokenStore } from './tokens.js';

/**
 * Re-sealing of every stored token under the first key of TOKEN_ENCRYPTION_KEYS, so an old key
 * can then be removed from the list. Built to run while the service serves traffic:
 * - SCAN in batches (never KEYS), so Redis keeps answering the service between batches;
 * - each value is replaced only if it is still the one read (compare-and-set in one Lua call):
 *   a token stored, replaced or deleted by the service meanwhile is left as the service left
 *   it, never overwritten with (or brought back from) a stale copy;
 * - a value already under the first key is skipped, so a stopped run can simply be rerun.
 */

export interface RotationReport {
  /** Token keys seen (SCAN may, rarely, return a key twice; it is then counted twice). */
  scanned: number;
  /** Re-sealed under the first key. */
  resealed: number;
  /** Already under the first key: nothing to do. */
  alreadyCurrent: number;
  /** Under a key that is not in the list, tampered with, or not a sealed value: left as is. */
  failedToOpen: number;
  /** Changed or deleted by the service between our read and our write: left as the service left it. */
  changedMeanwhile: number;
  /** The key ids found on values that did not open ('?' when there is none): what to put back. */
  failedKeyIds: string[];
}

export interface RotationOptions {
  redis: RedisClient;
  keys: Keys;
  /** Every key that may have sealed a stored token; the first one seals. */
  tokenKeys: readonly TokenKey[];
  /** SCAN COUNT hint and the number of values read and written per round trip; default 500. */
  batchSize?: number;
  /** Stops after the batch in progress (the run can be resumed by running it again). */
  signal?: AbortSignal;
  /** After each batch, with the totals so far (progress output). */
  onProgress?: (report: Readonly<RotationReport>) => void;
  /**
   * Between reading a batch and writing it back. The service may write at any moment; tests use
   * this to write at exactly the moment a stale overwrite would happen.
   */
  afterRead?: (keys: readonly string[]) => Promise<void> | void;
}

// Replaces KEYS[1] with ARGV[2] only if it still holds ARGV[1], keeping any expiry it has.
const REPLACE_IF_EQUAL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1`;

export async function rotateTokenKeys(opts: RotationOptions): Promise<RotationReport> {
  const current = opts.tokenKeys[0];
  if (current === undefined) throw new Error('TOKEN_ENCRYPTION_KEYS lists no key');
  const batchSize = opts.batchSize ?? 500;
  const tokens = new TokenStore(opts.redis, opts.keys, opts.tokenKeys);
  const report: RotationReport = { scanned: 0, resealed: 0, alreadyCurrent: 0, failedToOpen: 0, changedMeanwhile: 0, failedKeyIds: [] };

  // In a Cluster every master holds part of the keys, and SCAN walks one node at a time.
  const nodes: Redis[] = opts.redis instanceof Cluster ? opts.redis.nodes('master') : [opts.redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      if (opts.signal?.aborted === true) return report;
      const [next, found] = await node.scan(cursor, 'MATCH', opts.keys.tokenPattern, 'COUNT', batchSize);
      cursor = next;
      if (found.length > 0) {
        await rotateBatch(opts, tokens, current.id, found, report);
        opts.onProgress?.(report);
      }
    } while (cursor !== '0');
  }
  return report;
}

async function rotateBatch(opts: RotationOptions, tokens: TokenStore, currentKeyId: string, found: readonly string[], report: RotationReport): Promise<void> {
  report.scanned += found.length;
  // One GET per key rather than MGET: in a Cluster the keys of a batch are on different slots.
  // ioredis writes them all before the first answer arrives, so this is still one round trip.
  const values = await Promise.all(found.map((key) => opts.redis.get(key)));
  await opts.afterRead?.(found);

  const writes: Promise<void>[] = [];
  found.forEach((key, i) => {
    const sealed = values[i];
    if (sealed === null || sealed === undefined) {
      report.changedMeanwhile += 1; // deleted between SCAN and GET
      return;
    }
    if (sealedKeyId(sealed) === currentKeyId) {
      report.alreadyCurrent += 1;
      return;
    }
    const userId = opts.keys.userIdFromTokenKey(key);
    let resealed: string;
    try {
      if (userId === undefined) throw new Error('not a token key');
      resealed = tokens.sealRecord(userId, tokens.openRecord(userId, sealed));
    } catch {
      report.failedToOpen += 1;
      const keyId = sealedKeyId(sealed) ?? '?';
      if (!report.failedKeyIds.includes(keyId)) report.failedKeyIds.push(keyId);
      return;
    }
    writes.push(
      (async () => {
        const replaced = await opts.redis.eval(REPLACE_IF_EQUAL, 1, key, sealed, resealed);
        if (replaced === 1) report.resealed += 1;
        else report.changedMeanwhile += 1;
      })(),
    );
  });
  await Promise.all(writes);
}
