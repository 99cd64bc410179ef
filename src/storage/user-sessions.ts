import type { Logger } from '../logging.js';
import type { FlowStore } from './flows.js';
import type { Keys } from './keys.js';
import { guard, type RedisClient, type StoreErrorObserver } from './redis.js';

/** Sessions one user may hold at once (browsers, or /connect calls without a cookie); the next one evicts the one expiring first. */
export const MAX_SESSIONS_PER_USER = 10;

/**
 * KEYS: the user's sessions. ARGV: session id, its expiry (ms since the epoch), now (ms), limit.
 * Returns the ids evicted. Expired entries go first; the session being tracked is never its own
 * victim (it is taken out before the count and put back after); the set lives as long as its
 * longest-lived session.
 */
const TRACK = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4]) + 1
local evicted = {}
if over > 0 then
  evicted = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return evicted
`;

/**
 * The bound on sessions per user. Every session that names a user (a flow started, a demo
 * sign-in) is entered in one sorted set per user, scored by the session's expiry; past
 * MAX_SESSIONS_PER_USER the entry that expires first (for sessions of the same kind, the least
 * recently used) is evicted: its session and its pending flows are deleted, so a callback of it
 * is refused like any expired flow (and the code it carries is still exchanged and its Powens
 * user deleted). One script per flow start, sent alongside the flow's own write: no extra wait.
 * The set holds raw session ids, as the session keys' names already do; the user id is
 * URI-encoded in the key, like every user key.
 */
export class UserSessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly flows: FlowStore,
    private readonly logger: Logger,
    private readonly onStoreError?: StoreErrorObserver,
  ) {}

  /** Records that `sessionId` belongs to `userId` until `expiresAt`; returns how many older sessions were evicted. */
  async track(userId: string, sessionId: string, expiresAt: number, now: number = Date.now()): Promise<number> {
    const evicted = await guard(
      this.redis.eval(TRACK, 1, this.keys.userSessions(userId), sessionId, String(Math.ceil(expiresAt)), String(now), String(MAX_SESSIONS_PER_USER)),
      this.onStoreError,
      'user_sessions_track',
    );
    const victims = Array.isArray(evicted) ? evicted.filter((v): v is string => typeof v === 'string') : [];
    if (victims.length === 0) return 0;
    // The session keys have no hash tag and each session's flows have their own: one delete each.
    await Promise.all(
      victims.flatMap((sid) => [
        guard(this.redis.del(`${this.keys.sessionPrefix}${sid}`), this.onStoreError, 'user_sessions_evict'),
        this.flows.dropSession(sid),
      ]),
    );
    this.logger.info({ evicted: victims.length, limit: MAX_SESSIONS_PER_USER }, 'sessions of a user beyond the limit evicted (the oldest first)');
    return victims.length;
  }

  /** A session that ends (sign-out) leaves the user's set, so it does not count against the limit. */
  async forget(userId: string, sessionId: string): Promise<void> {
    await guard(this.redis.zrem(this.keys.userSessions(userId), sessionId), this.onStoreError, 'user_sessions_forget');
  }
}
