import { randomBytes } from 'node:crypto';
import { digest } from '../crypto.js';
import type { Keys } from '../storage/keys.js';
import { guard, type RedisClient } from '../storage/redis.js';

export type FlowKind = 'connect' | 'reconnect' | 'manage';

export interface PendingFlow {
  userId: string;
  kind: FlowKind;
  returnTo: string;
  createdAt: number;
  /** reconnect: the connection being repaired. */
  connectionId: number | null;
  /** The webview was opened with a temporary code of an existing Powens user: no exchange. */
  withCode: boolean;
}

export const FLOW_TTL_MS = 15 * 60 * 1000;
export const MAX_FLOWS_PER_SESSION = 10;

/**
 * Pending flows live in Redis, not in the session object: two tabs starting a flow at the same
 * moment would otherwise overwrite each other's session write and lose a flow. Each flow is one
 * key named by the session and a hash of its state, so it is bound to the session that started
 * it, consumed atomically (GETDEL: a replay finds nothing), and a Redis dump holds no usable
 * state value.
 */
export class FlowStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly now: () => number,
  ) {}

  async create(sessionId: string, flow: Omit<PendingFlow, 'createdAt'>): Promise<string> {
    const state = randomBytes(32).toString('base64url');
    const s = digest(sessionId);
    const h = digest(state);
    const createdAt = this.now();
    const record: PendingFlow = { ...flow, createdAt };
    const index = this.keys.flowIndex(s);
    const results = await guard(
      this.redis
        .multi()
        .set(this.keys.flow(s, h), JSON.stringify(record), 'PX', FLOW_TTL_MS)
        .zadd(index, createdAt, h)
        .zremrangebyscore(index, '-inf', createdAt - FLOW_TTL_MS)
        .pexpire(index, FLOW_TTL_MS)
        .zcard(index)
        .exec(),
    );
    const card = Number(results?.[4]?.[1] ?? 0);
    if (card > MAX_FLOWS_PER_SESSION) {
      // The oldest flows beyond the limit are dropped: their callbacks will be refused.
      const popped = await guard(this.redis.zpopmin(index, card - MAX_FLOWS_PER_SESSION));
      const victims = popped.filter((_, i) => i % 2 === 0);
      if (victims.length > 0) await guard(this.redis.del(...victims.map((v) => this.keys.flow(s, v))));
    }
    return state;
  }

  /** Takes the flow out of the store (single use) and returns it if it was still valid. */
  async consume(sessionId: string, state: string): Promise<PendingFlow | null> {
    const s = digest(sessionId);
    const h = digest(state);
    const raw = await guard(this.redis.getdel(this.keys.flow(s, h)));
    await guard(this.redis.zrem(this.keys.flowIndex(s), h));
    if (raw === null) return null;
    const flow = JSON.parse(raw) as PendingFlow;
    if (this.now() - flow.createdAt > FLOW_TTL_MS) return null;
    return flow;
  }

  async count(sessionId: string): Promise<number> {
    return guard(this.redis.zcard(this.keys.flowIndex(digest(sessionId))));
  }
}
