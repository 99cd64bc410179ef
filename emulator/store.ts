import { CONNECTORS, type EmulatorConnector, findConnector } from './connectors.js';
import { DEFAULT_TIME_ZONE, powensDate, randomToken } from './util.js';

export type TemporaryCodeType = 'singleAccess' | 'requestAccess';

export const TEMPORARY_CODE_TTL_SECONDS = 30 * 60;
/** A temporary token of POST /auth/init, and its user unless a permanent token is made meanwhile (docs.powens.com, "Authentication"). */
export const TEMPORARY_USER_TTL_SECONDS = 30 * 60;
export const AUTHORIZATION_CODE_TTL_SECONDS = 10 * 60;
const WEBVIEW_SESSION_TTL_MS = 30 * 60 * 1000;

export interface UserRecord {
  id: number;
  signin: string;
  /** A temporary user (POST /auth/init without the client's credentials) is deleted then, unless made permanent. */
  temporaryUntil?: number;
}

export interface ConnectionRecord {
  id: number;
  userId: number;
  connectorId: number;
  connectorUuid: string;
  state: string | null;
  errorMessage: string | null;
  lastUpdate: string | null;
  created: string;
  nextTry: string | null;
  expire: string | null;
  active: boolean;
  /** Fields laid over the catalogue's connector when this connection is expanded. */
  connectorOverride: Partial<EmulatorConnector>;
  /** Extra fields added to this connection's JSON (e.g. `fields` for additionalInformationNeeded). */
  extra: Record<string, unknown>;
}

/** A connection as Powens answers it. */
export interface PowensConnection {
  id: number;
  id_user: number;
  id_connector: number;
  connector_uuid: string;
  state: string | null;
  error: string | null;
  error_message: string | null;
  last_update: string | null;
  created: string;
  next_try: string | null;
  expire: string | null;
  active: boolean;
  connector?: EmulatorConnector;
  [extra: string]: unknown;
}

/** Fields a test may set on a connection; dates as `Date` or as a raw string (sent as is). */
export interface ConnectionFieldPatch {
  state?: string | null;
  error_message?: string | null;
  last_update?: Date | string | null;
  created?: Date | string;
  next_try?: Date | string | null;
  expire?: Date | string | null;
  active?: boolean;
  id_connector?: number;
  connector_uuid?: string;
  /** Laid over the connector object of `expand=connector` (e.g. a name with markup). */
  connector?: Partial<EmulatorConnector>;
  /** Any other field to add to the connection's JSON. */
  extra?: Record<string, unknown>;
}

interface TokenRecord {
  userId: number;
  /** Temporary tokens expire; permanent ones have none. */
  expiresAt?: number;
}

interface TemporaryCodeRecord {
  userId: number;
  type: TemporaryCodeType;
  expiresAt: number;
  consumed: boolean;
}

interface AuthorizationCodeRecord {
  userId: number;
  clientId: string;
  redirectUri: string;
  expiresAt: number;
}

/** What a sign-in in the webview still has to go through after the credentials, in order. */
export type LoginStep = 'question' | 'otp' | 'decoupled';

/** A sign-in in progress (connect, or reconnect with credentials): kept between its pages. */
export interface LoginProgress {
  connectorId: number;
  login: string;
  steps: LoginStep[];
  /** The bank already refused the password once (login `wrongpass`): the next one is taken. */
  refusedOnce: boolean;
  /** The "approve in your app" request was approved on the phone. */
  approved: boolean;
  /** The new connection's consent ends in a few days (login `expiring`). */
  expiring: boolean;
}

/**
 * A webview session: lets the pages after the first one keep working once a single-use code has
 * been used (the manage page, the steps of a sign-in), like the cookie of Powens' own webview.
 */
export interface WebviewSession {
  /** The temporary code the webview was opened with; undefined for a first connection. */
  code: string | undefined;
  userId: number | undefined;
  expiresAt: number;
  progress: LoginProgress | undefined;
}

export interface SnapshotUser {
  id: number;
  signin: string;
  connections: PowensConnection[];
  tokens: number;
  codes: number;
}

export interface EmulatorSnapshot {
  users: SnapshotUser[];
}

export interface EmulatorUserView {
  id: number;
  signin: string;
  connectionIds: number[];
}

export type TemporaryCodeCheck = { ok: true; userId: number; type: TemporaryCodeType } | { ok: false; reason: 'unknown' | 'expired' | 'consumed' };

/** The emulator's in-memory data: users, connections, tokens and codes. */
export class EmulatorStore {
  private readonly usersById = new Map<number, UserRecord>();
  private readonly connectionsById = new Map<number, ConnectionRecord>();
  private readonly connectionIdsByUser = new Map<number, Set<number>>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly temporaryCodes = new Map<string, TemporaryCodeRecord>();
  private readonly authorizationCodes = new Map<string, AuthorizationCodeRecord>();
  private readonly webviewSessions = new Map<string, WebviewSession>();
  // Ids keep growing across resetAll() so an id is never reused within a process.
  private nextUserId = 1;
  private nextConnectionId = 1;
  private lastSweep = Number.NEGATIVE_INFINITY;

  /** `timeZone`: the zone whose wall-clock time the API's zone-less dates hold. */
  constructor(
    private readonly now: () => Date,
    readonly timeZone: string = DEFAULT_TIME_ZONE,
  ) {}

  /** A date as Powens writes it: `YYYY-MM-DD HH:MM:SS` in the emulator's zone. */
  date(value: Date): string {
    return powensDate(value, this.timeZone);
  }

  private dateField(value: Date | string): string {
    return typeof value === 'string' ? value : this.date(value);
  }

  private nullableDateField(value: Date | string | null): string | null {
    return value === null ? null : this.dateField(value);
  }

  clear(): void {
    this.usersById.clear();
    this.connectionsById.clear();
    this.connectionIdsByUser.clear();
    this.tokens.clear();
    this.temporaryCodes.clear();
    this.authorizationCodes.clear();
    this.webviewSessions.clear();
  }

  private nowMs(): number {
    return this.now().getTime();
  }

  // ---- users and tokens ----

  createUser(opts: { temporary?: boolean } = {}): UserRecord {
    const user: UserRecord = { id: this.nextUserId++, signin: this.date(this.now()) };
    if (opts.temporary === true) user.temporaryUntil = this.nowMs() + TEMPORARY_USER_TTL_SECONDS * 1000;
    this.usersById.set(user.id, user);
    this.connectionIdsByUser.set(user.id, new Set());
    return user;
  }

  user(id: number): UserRecord | undefined {
    this.expireIfTemporary(id);
    return this.usersById.get(id);
  }

  /** A temporary user past its 30 minutes is gone, as Powens deletes it. */
  private expireIfTemporary(id: number): void {
    const user = this.usersById.get(id);
    if (user?.temporaryUntil !== undefined && user.temporaryUntil <= this.nowMs()) this.deleteUser(id);
  }

  deleteUser(id: number): boolean {
    if (!this.usersById.delete(id)) return false;
    for (const cid of this.connectionIdsByUser.get(id) ?? []) this.connectionsById.delete(cid);
    this.connectionIdsByUser.delete(id);
    for (const [t, r] of this.tokens) if (r.userId === id) this.tokens.delete(t);
    for (const [c, r] of this.temporaryCodes) if (r.userId === id) this.temporaryCodes.delete(c);
    for (const [c, r] of this.authorizationCodes) if (r.userId === id) this.authorizationCodes.delete(c);
    for (const [s, r] of this.webviewSessions) if (r.userId === id) this.webviewSessions.delete(s);
    return true;
  }

  /** A token of the user; a permanent one makes a temporary user permanent. */
  createToken(userId: number, opts: { temporary?: boolean } = {}): string {
    const token = randomToken(32);
    if (opts.temporary === true) this.tokens.set(token, { userId, expiresAt: this.nowMs() + TEMPORARY_USER_TTL_SECONDS * 1000 });
    else {
      this.tokens.set(token, { userId });
      const user = this.usersById.get(userId);
      if (user !== undefined) delete user.temporaryUntil;
    }
    return token;
  }

  userIdByToken(token: string): number | undefined {
    const record = this.tokens.get(token);
    if (record === undefined) return undefined;
    this.expireIfTemporary(record.userId);
    if (!this.usersById.has(record.userId) || (record.expiresAt !== undefined && record.expiresAt <= this.nowMs())) return undefined;
    return record.userId;
  }

  revokeToken(token: string): boolean {
    return this.tokens.delete(token);
  }

  // ---- temporary codes (GET /auth/token/code, used by the webview) ----

  issueTemporaryCode(userId: number, type: TemporaryCodeType): string {
    this.sweep();
    const code = randomToken(24);
    this.temporaryCodes.set(code, {
      userId,
      type,
      expiresAt: this.nowMs() + TEMPORARY_CODE_TTL_SECONDS * 1000,
      consumed: false,
    });
    return code;
  }

  checkTemporaryCode(code: string): TemporaryCodeCheck {
    const record = this.temporaryCodes.get(code);
    if (record === undefined || !this.usersById.has(record.userId)) return { ok: false, reason: 'unknown' };
    if (record.consumed) return { ok: false, reason: 'consumed' };
    if (record.expiresAt <= this.nowMs()) return { ok: false, reason: 'expired' };
    return { ok: true, userId: record.userId, type: record.type };
  }

  /** Marks a single-use code as used (a requestAccess code stays valid until it expires). */
  consumeTemporaryCode(code: string): void {
    const record = this.temporaryCodes.get(code);
    if (record !== undefined && record.type === 'singleAccess') record.consumed = true;
  }

  // ---- webview sessions (pages after the first one, once a single-use code was used) ----

  openWebviewSession(code: string | undefined, userId: number | undefined): string {
    this.sweep();
    const id = randomToken(24);
    this.webviewSessions.set(id, { code, userId, expiresAt: this.nowMs() + WEBVIEW_SESSION_TTL_MS, progress: undefined });
    return id;
  }

  /** The live session `sessionId` opened with `code` (both undefined for a first connection), or undefined. */
  webviewSession(sessionId: string, code: string | undefined): WebviewSession | undefined {
    const record = this.webviewSessions.get(sessionId);
    if (record === undefined || record.code !== code || record.expiresAt <= this.nowMs()) return undefined;
    if (record.userId !== undefined && !this.usersById.has(record.userId)) return undefined;
    return record;
  }

  closeWebviewSession(sessionId: string): void {
    this.webviewSessions.delete(sessionId);
  }

  // ---- authorization codes (the callback's `code`, exchanged at /auth/token/access) ----

  issueAuthorizationCode(userId: number, clientId: string, redirectUri: string): string {
    this.sweep();
    const code = randomToken(32);
    this.authorizationCodes.set(code, {
      userId,
      clientId,
      redirectUri,
      expiresAt: this.nowMs() + AUTHORIZATION_CODE_TTL_SECONDS * 1000,
    });
    return code;
  }

  /** A valid, unexpired authorization code's record, without consuming it. */
  peekAuthorizationCode(code: string): AuthorizationCodeRecord | undefined {
    const record = this.authorizationCodes.get(code);
    if (record === undefined) return undefined;
    if (record.expiresAt <= this.nowMs() || !this.usersById.has(record.userId)) {
      this.authorizationCodes.delete(code);
      return undefined;
    }
    return record;
  }

  consumeAuthorizationCode(code: string): void {
    this.authorizationCodes.delete(code);
  }

  // ---- connections ----

  addConnection(
    userId: number,
    connectorId: number,
    init: { state?: string | null; errorMessage?: string | null; expire?: Date | null } = {},
  ): ConnectionRecord {
    const connector = findConnector(connectorId);
    if (connector === undefined) throw new Error(`Unknown connector ${connectorId}`);
    if (!this.usersById.has(userId)) throw new Error(`Unknown user ${userId}`);
    const now = this.now();
    const created = this.date(now);
    const connection: ConnectionRecord = {
      id: this.nextConnectionId++,
      userId,
      connectorId: connector.id,
      connectorUuid: connector.uuid,
      state: init.state ?? null,
      errorMessage: init.errorMessage ?? null,
      lastUpdate: created,
      created,
      nextTry: this.date(new Date(now.getTime() + 24 * 3600 * 1000)),
      expire: init.expire === undefined || init.expire === null ? null : this.date(init.expire),
      active: true,
      connectorOverride: {},
      extra: {},
    };
    this.connectionsById.set(connection.id, connection);
    this.connectionIdsByUser.get(userId)?.add(connection.id);
    return connection;
  }

  connection(id: number): ConnectionRecord | undefined {
    return this.connectionsById.get(id);
  }

  connectionsOf(userId: number): ConnectionRecord[] {
    const ids = [...(this.connectionIdsByUser.get(userId) ?? [])].sort((a, b) => a - b);
    return ids.map((id) => this.connectionsById.get(id)).filter((c): c is ConnectionRecord => c !== undefined);
  }

  deleteConnection(id: number): boolean {
    const c = this.connectionsById.get(id);
    if (c === undefined) return false;
    this.connectionsById.delete(id);
    this.connectionIdsByUser.get(c.userId)?.delete(id);
    return true;
  }

  patchConnection(id: number, patch: ConnectionFieldPatch): boolean {
    const c = this.connectionsById.get(id);
    if (c === undefined) return false;
    if (patch.state !== undefined) c.state = patch.state;
    if (patch.error_message !== undefined) c.errorMessage = patch.error_message;
    if (patch.last_update !== undefined) c.lastUpdate = this.nullableDateField(patch.last_update);
    if (patch.created !== undefined) c.created = this.dateField(patch.created);
    if (patch.next_try !== undefined) c.nextTry = this.nullableDateField(patch.next_try);
    if (patch.expire !== undefined) c.expire = this.nullableDateField(patch.expire);
    if (patch.active !== undefined) c.active = patch.active;
    if (patch.id_connector !== undefined) c.connectorId = patch.id_connector;
    if (patch.connector_uuid !== undefined) c.connectorUuid = patch.connector_uuid;
    if (patch.connector !== undefined) c.connectorOverride = { ...c.connectorOverride, ...patch.connector };
    if (patch.extra !== undefined) c.extra = { ...c.extra, ...patch.extra };
    return true;
  }

  /** The connector object of a connection (catalogue entry with the connection's overrides). */
  connectorOf(c: ConnectionRecord): EmulatorConnector {
    const base = findConnector(c.connectorId) ?? {
      ...(CONNECTORS[0] as EmulatorConnector),
      id: c.connectorId,
      uuid: c.connectorUuid,
      name: `Connector ${c.connectorId}`,
      slug: `C${c.connectorId}`,
    };
    return { ...base, capabilities: [...base.capabilities], ...c.connectorOverride };
  }

  toPowens(c: ConnectionRecord, expandConnector: boolean): PowensConnection {
    const json: PowensConnection = {
      ...structuredClone(c.extra),
      id: c.id,
      id_user: c.userId,
      id_connector: c.connectorId,
      connector_uuid: c.connectorUuid,
      state: c.state,
      error: c.state,
      error_message: c.errorMessage,
      last_update: c.lastUpdate,
      created: c.created,
      next_try: c.nextTry,
      expire: c.expire,
      active: c.active,
    };
    if (expandConnector) json.connector = this.connectorOf(c);
    return json;
  }

  // ---- inspection ----

  private liveCodesOf(userId: number): number {
    const now = this.nowMs();
    let n = 0;
    for (const r of this.temporaryCodes.values()) if (r.userId === userId && !r.consumed && r.expiresAt > now) n++;
    for (const r of this.authorizationCodes.values()) if (r.userId === userId && r.expiresAt > now) n++;
    return n;
  }

  private tokensOf(userId: number): number {
    let n = 0;
    for (const r of this.tokens.values()) if (r.userId === userId) n++;
    return n;
  }

  snapshot(): EmulatorSnapshot {
    for (const id of [...this.usersById.keys()]) this.expireIfTemporary(id);
    const users = [...this.usersById.values()].sort((a, b) => a.id - b.id);
    return {
      users: users.map((u) => ({
        id: u.id,
        signin: u.signin,
        connections: this.connectionsOf(u.id).map((c) => this.toPowens(c, true)),
        tokens: this.tokensOf(u.id),
        codes: this.liveCodesOf(u.id),
      })),
    };
  }

  userView(id: number): EmulatorUserView | undefined {
    const u = this.usersById.get(id);
    if (u === undefined) return undefined;
    return { id: u.id, signin: u.signin, connectionIds: this.connectionsOf(u.id).map((c) => c.id) };
  }

  userViews(): EmulatorUserView[] {
    for (const id of [...this.usersById.keys()]) this.expireIfTemporary(id);
    return [...this.usersById.keys()]
      .sort((a, b) => a - b)
      .map((id) => this.userView(id))
      .filter((u): u is EmulatorUserView => u !== undefined);
  }

  /** Drops expired codes and sessions, at most every few seconds (keeps memory bounded). */
  private sweep(): void {
    const now = this.nowMs();
    if (now - this.lastSweep < 5000) return;
    this.lastSweep = now;
    for (const [k, r] of this.temporaryCodes) if (r.expiresAt <= now) this.temporaryCodes.delete(k);
    for (const [k, r] of this.authorizationCodes) if (r.expiresAt <= now) this.authorizationCodes.delete(k);
    for (const [k, r] of this.webviewSessions) if (r.expiresAt <= now) this.webviewSessions.delete(k);
    for (const [k, r] of this.tokens) if (r.expiresAt !== undefined && r.expiresAt <= now) this.tokens.delete(k);
    for (const id of [...this.usersById.keys()]) this.expireIfTemporary(id);
  }
}
