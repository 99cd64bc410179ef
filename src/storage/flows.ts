import { digest, randomToken } from '../crypto.js';
import type { Keys } from './keys.js';
import { guard, type RedisClient, type StoreErrorObserver } from './redis.js';

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

/** A flow that ended well, as a reload of its callback tells it: no state, no code, no token. */
export interface FinishedFlow {
  userId: string;
  kind: FlowKind;
  /** Where the callback sent the browser (return_to, with the connection id). */
  back: string;
  finishedAt: number;
}

export const FLOW_TTL_MS = 15 * 60 * 1000;
export const MAX_FLOWS_PER_SESSION = 10;

/** KEYS: flow, index. ARGV: record, state hash, TTL in ms, limit. Returns the dropped hashes. */
const CREATE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[2])
local dropped = redis.call('LRANGE', KEYS[2], tonumber(ARGV[4]), -1)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return dropped
`;

/**
 * Pending flows live in Redis, not in the session object: two tabs starting a flow at the same
 * moment would otherwise overwrite each other's session write and lose a flow. Each flow is one
 * key named by the session and a hash of its state, so it is bound to the session that started
 * it, consumed atomically (GETDEL: a replay finds nothing), and a Redis dump holds no usable
 * state value. A per-session list keeps the state hashes newest first: its order is the order
 * of creation even when two flows start within the same millisecond (or under a frozen clock),
 * so the one dropped beyond the limit is always the oldest.
 */
export class FlowStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly now: () => number,
    private readonly onStoreError?: StoreErrorObserver,
  ) {}

  async create(sessionId: string, flow: Omit<PendingFlow, 'createdAt'>): Promise<string> {
    const state = randomToken(32);
    const s = digest(sessionId);
    const h = digest(state);
    const createdAt = this.now();
    const record: PendingFlow = { ...flow, createdAt };
    const index = this.keys.flowIndex(s);
    // One script, atomic like a transaction: the new flow, its place at the head of the index,
    // and the entries beyond the limit taken out of the index and returned, so two concurrent
    // creations never drop the same flow twice or keep eleven. A script rather than MULTI: one
    // command and one reply instead of seven (MULTI, five commands, EXEC): some 30 µs less
    // client CPU on every /connect.
    const dropped = await guard(
      this.redis.eval(CREATE, 2, this.keys.flow(s, h), index, JSON.stringify(record), h, String(FLOW_TTL_MS), String(MAX_FLOWS_PER_SESSION)),
      this.onStoreError,
      'flow_create',
    );
    const victims = Array.isArray(dropped) ? dropped.filter((v): v is string => typeof v === 'string') : [];
    // The oldest flows beyond the limit are dropped: their callbacks will be refused.
    if (victims.length > 0) await guard(this.redis.del(...victims.map((v) => this.keys.flow(s, v))), this.onStoreError, 'flow_drop');
    return state;
  }

  /** Takes the flow out of the store (single use) and returns it if it was still valid. */
  async consume(sessionId: string, state: string): Promise<PendingFlow | null> {
    const s = digest(sessionId);
    const h = digest(state);
    const raw = await guard(this.redis.getdel(this.keys.flow(s, h)), this.onStoreError, 'flow_take');
    if (raw === null) return null;
    await guard(this.redis.lrem(this.keys.flowIndex(s), 0, h), this.onStoreError, 'flow_unindex');
    const flow = JSON.parse(raw) as PendingFlow;
    if (this.now() - flow.createdAt > FLOW_TTL_MS) return null;
    return flow;
  }

  /**
   * Remembers, for FLOW_TTL_MS, that the flow of `state` finished well in this session: a reload
   * of its callback (the state is spent by then) then says so instead of "expired". Keyed like
   * the flow, by hashes of the session id and of the state.
   */
  async markFinished(sessionId: string, state: string, finished: Omit<FinishedFlow, 'finishedAt'>): Promise<void> {
    const key = this.keys.flowDone(digest(sessionId), digest(state));
    const record: FinishedFlow = { ...finished, finishedAt: this.now() };
    await guard(this.redis.set(key, JSON.stringify(record), 'PX', FLOW_TTL_MS), this.onStoreError, 'flow_finish');
  }

  /** The flow of `state` if it finished well in this session within FLOW_TTL_MS. */
  async finished(sessionId: string, state: string): Promise<FinishedFlow | null> {
    const raw = await guard(this.redis.get(this.keys.flowDone(digest(sessionId), digest(state))), this.onStoreError, 'flow_finished_read');
    if (raw === null) return null;
    const finished = JSON.parse(raw) as FinishedFlow;
    return this.now() - finished.finishedAt > FLOW_TTL_MS ? null : finished;
  }

  /** Deletes every pending flow of a session (an evicted session): their callbacks are refused. */
  async dropSession(sessionId: string): Promise<void> {
    const s = digest(sessionId);
    const index = this.keys.flowIndex(s);
    const hashes = await guard(this.redis.lrange(index, 0, -1), this.onStoreError, 'flow_list');
    // One slot (the session's hash tag): one DEL for the flows and their index.
    await guard(this.redis.del(index, ...hashes.map((h) => this.keys.flow(s, h))), this.onStoreError, 'flow_drop');
  }

  /** Pending flows of a session (expired ones included until they are pushed out). */
  async count(sessionId: string): Promise<number> {
    return guard(this.redis.llen(this.keys.flowIndex(digest(sessionId))), this.onStoreError, 'flow_count');
  }
}
