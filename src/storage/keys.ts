/**
 * Every Redis key the service writes, under one prefix. User ids are URI-encoded so that no id
 * can forge another key or a Cluster hash tag (`{` and `}` are encoded).
 */
export interface Keys {
  sessionPrefix: string;
  token(userId: string): string;
  tokenPattern: string;
  userIdFromTokenKey(key: string): string | undefined;
  /**
   * The fate of one write of a user's token (`stored`, `refused` or `cancelled`), in the token
   * key's Cluster slot: one script reads and writes both (storage/tokens.ts).
   */
  tokenWrite(userId: string, writeId: string): string;
  powensUser(powensUserId: number): string;
  /** Pending flows of one session share a hash tag, so they live on one Cluster slot. */
  flow(sessionHash: string, stateHash: string): string;
  flowIndex(sessionHash: string): string;
  /** A flow of that session finished well: what a reload of its callback shows. */
  flowDone(sessionHash: string, stateHash: string): string;
  /** The sessions bound to one user, scored by their expiry (storage/user-sessions.ts): one key, its own slot. */
  userSessions(userId: string): string;
  connectionsCache(userId: string): string;
  connectionsLock(userId: string): string;
  /** Changes on every invalidation, so a fill that began before it cannot store stale data. */
  connectionsGeneration(userId: string): string;
  /** A failed fill's error code, shared for a few seconds with the requests that waited for it. */
  connectionsFailure(userId: string): string;
  /** The pub/sub channel on which a fill (done or failed) wakes the requests waiting for it. */
  connectionsFilled(userId: string): string;
  webhookSeen(id: string): string;
  rateLimitPrefix: string;
  /** The connector list of a Powens domain (shared by every user and instance). */
  connectors(domain: string): string;
}

export function createKeys(prefix: string): Keys {
  const enc = encodeURIComponent;
  const tokenHead = `${prefix}token:`;
  // The token key's name cannot change (deployments hold tokens under it) and has no hash tag
  // of its own: Redis Cluster hashes it whole, or hashes the prefix's tag. A key written with it
  // in one script carries the same tag: the prefix's, else the whole token key as its tag. (A
  // prefix with a `}` and no tag cannot be expressed so: Cluster then refuses that script.)
  const prefixTagged = hasHashTag(prefix);
  return {
    sessionPrefix: `${prefix}sess:`,
    token: (userId) => `${tokenHead}${enc(userId)}`,
    tokenPattern: `${tokenHead}*`,
    userIdFromTokenKey: (key) => {
      if (!key.startsWith(tokenHead)) return undefined;
      try {
        return decodeURIComponent(key.slice(tokenHead.length));
      } catch {
        return undefined;
      }
    },
    tokenWrite: (userId, writeId) =>
      prefixTagged ? `${prefix}token-write:${enc(userId)}:${writeId}` : `${prefix}token-write:{${tokenHead}${enc(userId)}}:${writeId}`,
    powensUser: (id) => `${prefix}powens-user:${id}`,
    flow: (s, h) => `${prefix}flow:{${s}}:${h}`,
    flowIndex: (s) => `${prefix}flows:{${s}}`,
    flowDone: (s, h) => `${prefix}flow-done:{${s}}:${h}`,
    userSessions: (userId) => `${prefix}user-sessions:{${enc(userId)}}`,
    connectionsCache: (userId) => `${prefix}connections:{${enc(userId)}}`,
    connectionsLock: (userId) => `${prefix}connections-lock:{${enc(userId)}}`,
    connectionsGeneration: (userId) => `${prefix}connections-gen:{${enc(userId)}}`,
    connectionsFailure: (userId) => `${prefix}connections-failed:{${enc(userId)}}`,
    connectionsFilled: (userId) => `${prefix}connections-filled:{${enc(userId)}}`,
    webhookSeen: (id) => `${prefix}webhook-seen:${enc(id)}`,
    rateLimitPrefix: `${prefix}rl`,
    connectors: (domain) => `${prefix}connectors:${enc(domain)}`,
  };
}

/** Whether Redis Cluster hashes only part of `key`: a `{` followed, later, by a `}` with something between. */
export function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  return open !== -1 && key.indexOf('}', open + 1) > open + 1;
}
